/**
 * What a canary workflow's history says about its rollouts: every change of the search attributes
 * (phase, weight, revision) with its time, the operator commands it accepted, and the spec in
 * force. The history, not the status query, is the record: it covers every run, also finished ones.
 */

import { defaultPayloadConverter, type Payload } from "@temporalio/common";
import type { temporal } from "@temporalio/proto";
import type { CanaryWorkflowInput } from "../../workflows/canary.ts";
import { COMMANDS, type Command, type RevisionMessage, revisionSignal } from "../../workflows/messages.ts";
import type { CanaryPhase } from "../api/canary.ts";
import type { ResolvedCanarySpec } from "../api/defaults.ts";
import type { CliTemporal } from "./temporal.ts";

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface CommandRecord {
  readonly at: string;
  readonly command: Command;
  readonly by: string;
  readonly reason: string;
  readonly gate?: string;
}

/** One search-attribute write: the fields it set. */
export interface Published {
  readonly at: string;
  readonly phase?: CanaryPhase;
  readonly weight?: number;
  readonly revision?: string;
}

export interface RunRecord {
  readonly runId: string;
  readonly published: Published[];
  readonly commands: CommandRecord[];
  /** The spec of the run's last revision message, else the one it was started with. */
  readonly spec: ResolvedCanarySpec | undefined;
}

function ms(ts: temporal.api.history.v1.IHistoryEvent["eventTime"]): number {
  if (!ts) return 0;
  return Number(ts.seconds?.toString() ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

function decode(payload: Payload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    const value = defaultPayloadConverter.fromPayload(payload);
    // Older servers keep search attribute values as one-element lists.
    return Array.isArray(value) ? value[0] : value;
  } catch {
    return undefined;
  }
}

function published(at: number, fields: Record<string, Payload> | null | undefined): Published | undefined {
  if (!fields) return undefined;
  const phase = decode(fields.CanaryPhase);
  const weight = decode(fields.CanaryWeight);
  const revision = decode(fields.TargetRevision);
  if (phase === undefined && weight === undefined && revision === undefined) return undefined;
  return {
    at: new Date(at).toISOString(),
    ...(typeof phase === "string" ? { phase: phase as CanaryPhase } : {}),
    ...(weight !== undefined ? { weight: Number(weight) } : {}),
    ...(typeof revision === "string" ? { revision } : {}),
  };
}

const isCommand = (name: string | null | undefined): name is Command =>
  (COMMANDS as readonly string[]).includes(name ?? "");

function command(at: number, name: Command, payload: Payload | null | undefined): CommandRecord {
  const input = (decode(payload) ?? {}) as { by?: unknown; reason?: unknown; gate?: unknown };
  return {
    at: new Date(at).toISOString(),
    command: name,
    by: typeof input.by === "string" && input.by ? input.by : "unknown",
    reason: typeof input.reason === "string" ? input.reason : "",
    ...(typeof input.gate === "string" ? { gate: input.gate } : {}),
  };
}

/** Reads one run's history into its record. */
export function readRun(runId: string, events: readonly HistoryEvent[]): RunRecord {
  const record: RunRecord = { runId, published: [], commands: [], spec: undefined };
  let spec: ResolvedCanarySpec | undefined;
  let generation = Number.NEGATIVE_INFINITY;
  for (const event of events) {
    const at = ms(event.eventTime);
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = decode(started.input?.payloads?.[0]) as CanaryWorkflowInput | undefined;
      spec = input?.carried?.spec;
      const carried = published(at, started.searchAttributes?.indexedFields);
      if (carried) record.published.push(carried);
    }
    const upsert = event.upsertWorkflowSearchAttributesEventAttributes;
    const change = upsert && published(at, upsert.searchAttributes?.indexedFields);
    if (change) record.published.push(change);
    const signal = event.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName === revisionSignal.name) {
      const message = decode(signal.input?.payloads?.[0]) as RevisionMessage | undefined;
      // As the workflow does: a message older than the spec in force does not replace it.
      if (message?.spec && message.generation >= generation) {
        spec = message.spec;
        generation = message.generation;
      }
    } else if (signal && isCommand(signal.signalName)) {
      record.commands.push(command(at, signal.signalName, signal.input?.payloads?.[0]));
    }
    const update = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (update && isCommand(update.name))
      record.commands.push(command(at, update.name, update.args?.payloads?.[0]));
  }
  return { ...record, spec };
}

export async function fetchRun(temporal: CliTemporal, workflowId: string, runId: string): Promise<RunRecord> {
  const history = await temporal.client.workflow.getHandle(workflowId, runId).fetchHistory();
  return readRun(runId, history.events ?? []);
}

/** The phases of a rollout under way. */
const rollingPhases: ReadonlySet<CanaryPhase> = new Set([
  "Waiting",
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
]);

export const isRolling = (phase: CanaryPhase | undefined): boolean =>
  phase !== undefined && rollingPhases.has(phase);

export type RolloutOutcome = "Succeeded" | "Failed" | "Superseded" | "Deleted" | "InProgress";

export interface RolloutRecord {
  readonly revision: string;
  readonly outcome: RolloutOutcome;
  /** The phase it is in, for one in progress. */
  readonly phase: CanaryPhase;
  readonly start: string;
  readonly end: string | undefined;
  readonly maxWeight: number;
  readonly commands: CommandRecord[];
}

/**
 * Cuts the runs (oldest first) into rollouts: one begins when the phase enters a rollout phase or
 * the revision changes during one, and ends with the phase that follows it. Commands sent while
 * idle (a retry) belong to the rollout they start.
 */
export function rollouts(runs: readonly RunRecord[]): RolloutRecord[] {
  type Open = { -readonly [K in keyof RolloutRecord]: RolloutRecord[K] };
  const done: RolloutRecord[] = [];
  let open: Open | undefined;
  let phase: CanaryPhase | undefined;
  let weight = 0;
  let revision = "";
  let waiting: CommandRecord[] = [];
  const close = (outcome: RolloutOutcome, at: string) => {
    if (!open) return;
    done.push({ ...open, outcome, end: at, phase: phase ?? open.phase });
    open = undefined;
  };
  for (const run of runs) {
    const items = [
      ...run.published.map((p) => ({ at: p.at, published: p })),
      ...run.commands.map((c) => ({ at: c.at, command: c })),
    ].sort((a, b) => a.at.localeCompare(b.at));
    for (const item of items) {
      if ("command" in item && item.command) {
        (open ? open.commands : waiting).push(item.command);
        continue;
      }
      const p = (item as { published: Published }).published;
      phase = p.phase ?? phase;
      weight = p.weight ?? weight;
      const revisionChanged = p.revision !== undefined && p.revision !== revision;
      revision = p.revision ?? revision;
      if (isRolling(phase)) {
        if (open && revisionChanged) close("Superseded", p.at);
        if (!open) {
          open = {
            revision,
            outcome: "InProgress",
            phase: phase as CanaryPhase,
            start: p.at,
            end: undefined,
            maxWeight: weight,
            commands: waiting,
          };
          waiting = [];
        }
        open.maxWeight = Math.max(open.maxWeight, weight);
        open.phase = phase as CanaryPhase;
      } else if (open) {
        close(phase === "Succeeded" || phase === "Failed" ? phase : "Deleted", p.at);
      }
    }
  }
  return open ? [...done, open] : done;
}
