/**
 * The canary workflow's messages, shared by the workflow, the controller and the CLI.
 * Operator commands exist both as signals (durable even while no worker runs) and as updates
 * (the caller learns at once whether the command was accepted, and why not).
 */
import { defineQuery, defineSignal, defineUpdate } from "@temporalio/workflow";
import type { CanaryPhase, GateType } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { MetricResult, Routes, WebhookResult } from "./activity-port.ts";

export const TASK_QUEUE = "durable-canary";

export function workflowId(namespace: string, name: string): string {
  return `canary/${namespace}/${name}`;
}

/** A new target revision (pod template + tracked configs hash) with the spec in force, from the controller. */
export interface RevisionMessage {
  readonly revision: string;
  readonly spec: ResolvedCanarySpec;
  /** The Canary object's metadata.generation, so a stale message never overrides a newer spec. */
  readonly generation: number;
  /**
   * Set while the Canary's status shows a problem the controller wrote (invalid spec, missing
   * target) that is now gone: the workflow writes its own status again.
   */
  readonly resyncStatus?: boolean;
}

export interface DeleteMessage {
  readonly generation?: number;
}

/** Who sent a command and why: recorded in history and in the status timeline. */
export interface CommandInput {
  readonly by: string;
  readonly reason?: string;
}

export interface ApproveInput extends CommandInput {
  /** Which gate to open; any pending gate when left out. */
  readonly gate?: GateType;
}

export const COMMANDS = ["approve", "skip", "abort", "pause", "resume", "retry"] as const;
export type Command = (typeof COMMANDS)[number];

/**
 * The controller's messages, named so that no operator takes them for commands in the Temporal
 * UI's signal dialog. Runs begun by older workflow code still take them by their old names.
 */
export const revisionSignal = defineSignal<[RevisionMessage]>("internal.revision");
export const deleteSignal = defineSignal<[DeleteMessage]>("internal.delete");
export const legacyRevisionSignal = defineSignal<[RevisionMessage]>("revision");
export const legacyDeleteSignal = defineSignal<[DeleteMessage]>("delete");

/** What the Temporal UI shows beside each message: what it does and the input it takes. */
export const MESSAGE_DESCRIPTIONS = {
  internal: "internal: sent by the durable-canary controller; not an operator command",
  approve:
    'operator command: open the pending gate. Input: {"by": "alice", "reason": "CAB-42", "gate": "confirm-promotion"} (gate optional)',
  skip: 'operator command: skip the analysis and promote now. Input: {"by": "alice", "reason": "hotfix"}',
  abort: 'operator command: roll back to the primary now. Input: {"by": "alice", "reason": "errors in logs"}',
  pause: 'operator command: hold the rollout at its current weight. Input: {"by": "alice", "reason": "..."}',
  resume: 'operator command: continue a paused rollout. Input: {"by": "alice", "reason": "..."}',
  retry: 'operator command: roll the failed revision out again. Input: {"by": "alice", "reason": "..."}',
} as const;

export const approveSignal = defineSignal<[ApproveInput]>("approve");
export const skipSignal = defineSignal<[CommandInput]>("skip");
export const abortSignal = defineSignal<[CommandInput]>("abort");
export const pauseSignal = defineSignal<[CommandInput]>("pause");
export const resumeSignal = defineSignal<[CommandInput]>("resume");
export const retrySignal = defineSignal<[CommandInput]>("retry");

/** What an accepted update answers: the state the command left the canary in. */
export interface CommandResult {
  readonly accepted: true;
  readonly phase: CanaryPhase;
  readonly message: string;
}

export const approveUpdate = defineUpdate<CommandResult, [ApproveInput]>("approve");
export const skipUpdate = defineUpdate<CommandResult, [CommandInput]>("skip");
export const abortUpdate = defineUpdate<CommandResult, [CommandInput]>("abort");
export const pauseUpdate = defineUpdate<CommandResult, [CommandInput]>("pause");
export const resumeUpdate = defineUpdate<CommandResult, [CommandInput]>("resume");
export const retryUpdate = defineUpdate<CommandResult, [CommandInput]>("retry");

/** Each operator command's update, for every client that sends commands (CLI, controller). */
export const commandUpdates = {
  approve: approveUpdate,
  skip: skipUpdate,
  abort: abortUpdate,
  pause: pauseUpdate,
  resume: resumeUpdate,
  retry: retryUpdate,
} as const satisfies Record<Command, unknown>;

export interface TimelineEntry {
  /** Workflow time (deterministic), ISO 8601. */
  readonly at: string;
  readonly phase: CanaryPhase;
  readonly message: string;
  /** Set for operator commands. */
  readonly by?: string;
  readonly reason?: string;
}

export interface PendingGate {
  readonly gate: GateType;
  readonly since: string;
  /** When the gate rolls the canary back if still closed; undefined waits forever. */
  readonly deadline: string | undefined;
  /** The last answer of the gate's webhooks. */
  readonly webhooks: readonly WebhookResult[];
}

export interface CanaryStatusView {
  readonly namespace: string;
  readonly name: string;
  readonly phase: CanaryPhase;
  readonly revision: string | undefined;
  readonly lastPromotedRevision: string | undefined;
  readonly failedRevision: string | undefined;
  readonly routes: Routes;
  readonly failedChecks: number;
  readonly iterations: number;
  /** Analysis steps run in this rollout. */
  readonly step: number;
  readonly paused: boolean;
  readonly pendingGate: PendingGate | undefined;
  readonly lastAnalysis: {
    readonly metrics: readonly MetricResult[];
    readonly webhooks: readonly WebhookResult[];
  };
  /** The cause of the current phase in words: why it failed, what it waits for. */
  readonly message: string;
  readonly timeline: readonly TimelineEntry[];
}

export const statusQuery = defineQuery<CanaryStatusView>("status");

/** The spec with this digest, if the workflow still holds it: how a worker resolves a compact activity input. */
export const specQuery = defineQuery<ResolvedCanarySpec | undefined, [string]>("spec");
