/**
 * The state of one run of the canary workflow: what a run hands to the next one when it
 * continues as new (CarriedState), and what only this run needs. Every part of the workflow
 * reads and changes this one object; awaits in between may have changed it.
 */
import { patched } from "@temporalio/workflow";
import type { CanaryPhase } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import type {
  CanaryEvent,
  CanaryRef,
  MetricResult,
  StatusUpdate,
  TargetMessage,
  WebhookResult,
} from "../activity-port.ts";
import { type Command, type Effect, initialRolloutState, type RolloutState } from "../decisions/index.ts";
import type { RevisionMessage, TimelineEntry } from "../messages.ts";
import { specDigest } from "../spec-digest.ts";
import { COMPACT_INPUTS_PATCH, HARDENING_PATCH, LEAN_STEPS_PATCH, STEADY_CADENCE_PATCH } from "./patches.ts";

/** Specs the `spec` query still answers for: a retried activity may ask for the one before. */
const KNOWN_SPECS = 4;

/** How many timeline entries the status query keeps (history keeps everything). */
const TIMELINE_LIMIT = 100;

export type InboxItem =
  | { readonly kind: "revision"; readonly message: RevisionMessage }
  | { readonly kind: "delete" }
  | { readonly kind: "command"; readonly id: number; readonly command: Command };

type LastAnalysis = {
  readonly metrics: readonly MetricResult[];
  readonly webhooks: readonly WebhookResult[];
};

/** Everything a run hands to the next one when it continues as new. */
export interface CarriedState {
  readonly rollout: RolloutState;
  readonly spec: ResolvedCanarySpec | undefined;
  readonly generation: number;
  readonly initialized: boolean;
  readonly inbox: readonly InboxItem[];
  readonly timeline: readonly TimelineEntry[];
  readonly lastAnalysis: LastAnalysis;
  readonly nextCommandId: number;
  readonly steps: number;
  /** Keeps the analysis cadence across runs. */
  readonly nextStepAtMs: number | undefined;
  readonly pendingRevision: string | undefined;
  /** The last revision message received, so a repeat of it wakes nothing. */
  readonly lastReceived?: RevisionMessage | undefined;
  /** Effects decided but not carried out yet (their activity failed), oldest first. */
  readonly unfinished?: readonly Effect[];
  /** When the canary must be ready by, fixed when the wait for this revision's readiness began. */
  readonly readyDeadlineAtMs?: number | undefined;
  /** The rollout workflow of the rollout under way, told how it ends. */
  readonly openRollout?: { readonly id: string; readonly revision: string } | undefined;
  /** Rollouts begun by this canary workflow, numbering the rollout workflows' IDs. */
  readonly rolloutCount?: number;
}

export class Run {
  readonly ref: CanaryRef;
  state: RolloutState;
  spec: ResolvedCanarySpec | undefined;
  generation: number;
  initialized: boolean;
  readonly inbox: InboxItem[];
  readonly timeline: TimelineEntry[];
  lastAnalysis: LastAnalysis;
  nextCommandId: number;
  /** Analysis steps run in the current rollout. */
  steps: number;
  /** Workflow time at which the next analysis step is due. */
  nextStepAtMs: number | undefined;
  /** Revision seen before initialization finished; it starts once the primary exists. */
  pendingRevision: string | undefined;
  lastReceived: RevisionMessage | undefined;
  /** Effects decided but not carried out yet; retried, in order, before anything else is done. */
  unfinished: Effect[];
  readyDeadlineAtMs: number | undefined;
  openRollout: CarriedState["openRollout"];
  rolloutCount: number;

  /** Whether this run's ordinary steps are one workflow task (decided once, at its start). */
  readonly lean: boolean;
  /** Whether timers, not the clock, decide when the next step runs (see STEADY_CADENCE_PATCH). */
  readonly steadyCadence: boolean;
  /** Commands the main loop has applied, so their update handlers can answer. */
  readonly applied = new Map<number, { ok: boolean; message: string }>();
  /** The status last written to the cluster, to write only changes. */
  synced = "";
  /** The next status write reads the Canary first instead of trusting what it last wrote. */
  statusMayBeStale = false;
  /** Set when this run saw a rollout end: the run then continues as new. */
  rolloutEnded = false;
  /** Why the first unfinished effect failed, and when to try it again. */
  stall: { reason: string; permanent: boolean; retryAtMs: number } | undefined;
  /** What the workflow is carrying out now, for an update that has to wait. */
  busyWith = "";
  /** The last warning noted about a halted step, so a repeat is not written again. */
  lastHalt = "";
  /** When the step under way was due: an interrupted step runs again at once, not an interval later. */
  stepDueAtMs: number | undefined;
  /** What the search attributes show, as last upserted in this run. */
  published = "";
  /** The report lanes: each report waits for the one before it in its lane (see reporting.ts). */
  readonly lanes = { status: Promise.resolve(), notify: Promise.resolve() };
  /** What a lean run reports when its step ends: the last status of each phase, and the Events in order. */
  outbox: { status: StatusUpdate | undefined; events: CanaryEvent[] } = { status: undefined, events: [] };
  /** The specs of this run by digest, newest last, for the `spec` query. */
  readonly knownSpecs = new Map<string, ResolvedCanarySpec>();
  digest: string | undefined;

  constructor(ref: CanaryRef, carried: CarriedState | undefined) {
    this.ref = ref;
    this.state = carried?.rollout ?? initialRolloutState();
    this.spec = carried?.spec;
    this.generation = carried?.generation ?? -1;
    this.initialized = carried?.initialized ?? false;
    this.inbox = [...(carried?.inbox ?? [])];
    this.timeline = [...(carried?.timeline ?? [])];
    this.lastAnalysis = carried?.lastAnalysis ?? { metrics: [], webhooks: [] };
    this.nextCommandId = carried?.nextCommandId ?? 1;
    this.steps = carried?.steps ?? 0;
    this.nextStepAtMs = carried?.nextStepAtMs;
    this.unfinished = [...(carried?.unfinished ?? [])];
    this.readyDeadlineAtMs = carried?.readyDeadlineAtMs;
    this.openRollout = carried?.openRollout;
    this.rolloutCount = carried?.rolloutCount ?? 0;
    this.lastReceived = carried?.lastReceived;
    this.pendingRevision = carried?.pendingRevision;
    this.lean = patched(LEAN_STEPS_PATCH);
    this.steadyCadence = this.lean && patched(STEADY_CADENCE_PATCH);
    this.useSpec(this.spec);
  }

  /**
   * Whether the change a patch guards applies to this run. A run with a steady cadence started on
   * code that had every earlier change, so it asks no more: a patch asked for the first time in
   * the middle of a step (after a local activity) may be decided in another workflow task on
   * replay than it was when the run recorded it. Older runs decide each patch where they first ask.
   */
  applies(patch: string): boolean {
    return this.steadyCadence || patched(patch);
  }

  hardened(): boolean {
    return this.applies(HARDENING_PATCH);
  }

  now(): number {
    return Date.now();
  }

  /** The phase as of now: awaits in between may have moved it. */
  phaseNow(): CanaryPhase {
    return this.state.phase;
  }

  hasMail(): boolean {
    return this.inbox.length > 0;
  }

  useSpec(next: ResolvedCanarySpec | undefined): void {
    this.spec = next;
    if (!next) return;
    this.digest = specDigest(next);
    this.knownSpecs.delete(this.digest);
    this.knownSpecs.set(this.digest, next);
    if (this.knownSpecs.size > KNOWN_SPECS)
      this.knownSpecs.delete(this.knownSpecs.keys().next().value as string);
  }

  /** What a regular activity is told about the canary. */
  target(): TargetMessage {
    return this.applies(COMPACT_INPUTS_PATCH)
      ? { ref: this.ref, specDigest: this.digest, revision: this.state.revision }
      : { ref: this.ref, spec: this.spec as ResolvedCanarySpec, revision: this.state.revision };
  }

  remember(entry: Omit<TimelineEntry, "at" | "phase">): void {
    this.timeline.push({ at: new Date(this.now()).toISOString(), phase: this.state.phase, ...entry });
    if (this.timeline.length > TIMELINE_LIMIT) this.timeline.splice(0, this.timeline.length - TIMELINE_LIMIT);
  }

  /** What the next run of this canary takes over. */
  carry(): CarriedState {
    return {
      rollout: this.state,
      spec: this.spec,
      generation: this.generation,
      initialized: this.initialized,
      inbox: this.inbox,
      timeline: this.timeline,
      lastAnalysis: this.lastAnalysis,
      nextCommandId: this.nextCommandId,
      steps: this.steps,
      nextStepAtMs: this.nextStepAtMs,
      pendingRevision: this.pendingRevision,
      lastReceived: this.lastReceived,
      unfinished: this.unfinished,
      readyDeadlineAtMs: this.readyDeadlineAtMs,
      openRollout: this.openRollout,
      rolloutCount: this.rolloutCount,
    };
  }

  /** The carried state of a new canary of the same name, with the messages it sent already. */
  freshStart(messages: readonly InboxItem[]): CarriedState {
    return {
      rollout: initialRolloutState(),
      spec: undefined,
      generation: -1,
      initialized: false,
      inbox: messages,
      timeline: [],
      lastAnalysis: { metrics: [], webhooks: [] },
      nextCommandId: this.nextCommandId,
      steps: 0,
      nextStepAtMs: undefined,
      pendingRevision: undefined,
      rolloutCount: this.rolloutCount,
    };
  }
}
