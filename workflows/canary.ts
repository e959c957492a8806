/**
 * The canary workflow: one per Canary object, for its whole life. It observes the world through
 * activities, feeds what it saw to the pure state machine in decisions/, and carries out the
 * effects the state machine returns. Every wait is a condition that any message ends at once;
 * idle canaries wait with no timer at all. Each finished rollout continues as new, so one run of
 * the workflow ID is one rollout.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from "@temporalio/workflow";
import type { CanaryPhase, GateType, WebhookType } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import { formatDuration } from "../src/api/duration.ts";
import { searchAttributes } from "../src/temporal/search-attributes.ts";
import {
  activityOptions,
  type CanaryActivities,
  type CanaryActivityCalls,
  type CanaryEvent,
  type CanaryRef,
  localActivityOptions,
  type MetricResult,
  NON_RETRYABLE_ERRORS,
  type ReadinessReport,
  type StatusUpdate,
  type Target,
  type TargetMessage,
  type WebhookResult,
} from "./activity-port.ts";
import {
  analysis,
  cluster,
  describeError,
  effectSummary,
  errorType,
  isPermanent,
  local,
  readiness,
  regular,
  report,
  routeSummary,
  short,
} from "./canary/calls.ts";
import {
  CHANGED_ATTRIBUTES_PATCH,
  COMPACT_INPUTS_PATCH,
  HARDENING_PATCH,
  INTERNAL_NAMES_PATCH,
  LEAN_STEPS_PATCH,
  METRIC_STATUS_PATCH,
  REPEATED_REVISION_PATCH,
  RESYNC_STATUS_PATCH,
  ROLLOUT_WORKFLOWS_PATCH,
} from "./canary/patches.ts";
import {
  type CheckedCommandInput,
  type Command,
  checkCommand,
  checkCommandInput,
  checkRevisionMessage,
  type Effect,
  evaluateGate,
  gateDeadlineMs,
  gateTimeoutMs,
  initialRolloutState,
  isAnalysing,
  isAnalysisStart,
  isBeforePromotion,
  isFrozen,
  isIdle,
  isRollingOut,
  planStep,
  projectStatus,
  type RolloutEvent,
  type RolloutState,
  summarizeChecks,
  transition,
} from "./decisions/index.ts";
import {
  type ApproveInput,
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  type CanaryStatusView,
  type CommandInput,
  type CommandResult,
  deleteSignal,
  legacyDeleteSignal,
  legacyRevisionSignal,
  MESSAGE_DESCRIPTIONS,
  pauseSignal,
  pauseUpdate,
  type RevisionMessage,
  resumeSignal,
  resumeUpdate,
  retrySignal,
  retryUpdate,
  revisionSignal,
  skipSignal,
  skipUpdate,
  specQuery,
  statusQuery,
  type TimelineEntry,
} from "./messages.ts";
import { type RolloutOutcome, rolloutEndSignal, rolloutWorkflow } from "./rollout.ts";
import { specDigest } from "./spec-digest.ts";

/** Specs the `spec` query still answers for: a retried activity may ask for the one before. */
const KNOWN_SPECS = 4;

/** How long an update waits for its command to be applied before answering that it is still queued. */
const UPDATE_WAIT = "1m";

/** An effect failed after its activity's retries; it stays queued and the step that needed it ends. */
class Stalled extends Error {}

/** How many timeline entries the status query keeps (history keeps everything). */
const TIMELINE_LIMIT = 100;

type InboxItem =
  | { readonly kind: "revision"; readonly message: RevisionMessage }
  | { readonly kind: "delete" }
  | { readonly kind: "command"; readonly id: number; readonly command: Command };

/** Everything a run hands to the next one when it continues as new. */
export interface CarriedState {
  readonly rollout: RolloutState;
  readonly spec: ResolvedCanarySpec | undefined;
  readonly generation: number;
  readonly initialized: boolean;
  readonly inbox: readonly InboxItem[];
  readonly timeline: readonly TimelineEntry[];
  readonly lastAnalysis: {
    readonly metrics: readonly MetricResult[];
    readonly webhooks: readonly WebhookResult[];
  };
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

export interface CanaryWorkflowInput {
  readonly ref: CanaryRef;
  /** Set by continue-as-new; absent on the first run. */
  readonly carried?: CarriedState;
}

export type CanaryWorkflowResult = { readonly phase: "Terminated" };

export async function canaryWorkflow(input: CanaryWorkflowInput): Promise<CanaryWorkflowResult> {
  const { ref } = input;
  const carried = input.carried;
  let state: RolloutState = carried?.rollout ?? initialRolloutState();
  let spec: ResolvedCanarySpec | undefined = carried?.spec;
  let generation = carried?.generation ?? -1;
  let initialized = carried?.initialized ?? false;
  const inbox: InboxItem[] = [...(carried?.inbox ?? [])];
  const timeline: TimelineEntry[] = [...(carried?.timeline ?? [])];
  let lastAnalysis = carried?.lastAnalysis ?? { metrics: [], webhooks: [] };
  let nextCommandId = carried?.nextCommandId ?? 1;
  /** Analysis steps run in the current rollout. */
  let steps = carried?.steps ?? 0;
  /** Commands the main loop has applied, so their update handlers can answer. */
  const applied = new Map<number, { ok: boolean; message: string }>();
  /** The status last written to the cluster, to write only changes. */
  let synced = "";
  /** The next status write reads the Canary first instead of trusting what it last wrote. */
  let statusMayBeStale = false;
  /** Set when this run saw a rollout end: the run then continues as new. */
  let rolloutEnded = false;
  /** Workflow time at which the next analysis step is due. */
  let nextStepAtMs: number | undefined = carried?.nextStepAtMs;

  /** Effects decided but not carried out yet; retried, in order, before anything else is done. */
  let unfinished: Effect[] = [...(carried?.unfinished ?? [])];
  /** Why the first unfinished effect failed, and when to try it again. */
  let stall: { reason: string; permanent: boolean; retryAtMs: number } | undefined;
  let readyDeadlineAtMs: number | undefined = carried?.readyDeadlineAtMs;
  /** What the workflow is carrying out now, for an update that has to wait. */
  let busyWith = "";
  /** The last warning noted about a halted step, so a repeat is not written again. */
  let lastHalt = "";
  /** When the step under way was due: an interrupted step runs again at once, not an interval later. */
  let stepDueAtMs: number | undefined;
  let openRollout = carried?.openRollout;
  /** What the search attributes show, as last upserted in this run. */
  let published = "";
  let rolloutCount = carried?.rolloutCount ?? 0;

  const lean = patched(LEAN_STEPS_PATCH);
  const hardened = () => patched(HARDENING_PATCH);
  const now = () => Date.now();
  /** The phase as of now: awaits in between may have moved it. */
  const phaseNow = (): CanaryPhase => state.phase;
  /** The specs of this run by digest, newest last, for the `spec` query. */
  const knownSpecs = new Map<string, ResolvedCanarySpec>();
  let digest: string | undefined;
  function useSpec(next: ResolvedCanarySpec | undefined): void {
    spec = next;
    if (!next) return;
    digest = specDigest(next);
    knownSpecs.delete(digest);
    knownSpecs.set(digest, next);
    if (knownSpecs.size > KNOWN_SPECS) knownSpecs.delete(knownSpecs.keys().next().value as string);
  }
  useSpec(spec);
  setHandler(specQuery, (wanted) => knownSpecs.get(wanted));
  const target = (): TargetMessage =>
    patched(COMPACT_INPUTS_PATCH)
      ? { ref, specDigest: digest, revision: state.revision }
      : { ref, spec: spec as ResolvedCanarySpec, revision: state.revision };
  const hasMail = () => inbox.length > 0;

  type Call = keyof CanaryActivityCalls;
  type Rest<K extends Call> = CanaryActivityCalls[K] extends (t: TargetMessage, ...rest: infer R) => unknown
    ? R
    : never;
  /**
   * Calls a short activity of the given kind: a local one in a lean run, with the whole spec
   * (a local activity's input is not written to history), else a regular one with the digest.
   */
  function call<K extends Call>(
    kind: keyof typeof local,
    name: K,
    summary: string,
    ...rest: Rest<K>
  ): ReturnType<CanaryActivityCalls[K]> {
    // The proxies are typed per activity; one generic call site needs the untyped signature.
    type Proxies = Record<Call, { executeWithOptions(options: object, args: unknown[]): unknown }>;
    type Out = ReturnType<CanaryActivityCalls[K]>;
    if (lean) {
      const whole: Target = { ref, spec: spec as ResolvedCanarySpec, revision: state.revision };
      const proxies = local[kind] as unknown as Proxies;
      return proxies[name].executeWithOptions({ ...localActivityOptions[kind], summary }, [
        whole,
        ...rest,
      ]) as Out;
    }
    const proxies = regular[kind] as unknown as Proxies;
    return proxies[name].executeWithOptions({ ...activityOptions[kind], summary }, [
      target(),
      ...rest,
    ]) as Out;
  }

  function remember(entry: Omit<TimelineEntry, "at" | "phase">): void {
    timeline.push({ at: new Date(now()).toISOString(), phase: state.phase, ...entry });
    if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT);
  }

  // ---- messages ----------------------------------------------------------------------------

  let lastReceived: RevisionMessage | undefined = carried?.lastReceived;
  const isRepeat = (message: RevisionMessage): boolean =>
    lastReceived !== undefined &&
    !message.resyncStatus &&
    message.revision === lastReceived.revision &&
    message.generation === lastReceived.generation &&
    JSON.stringify(message.spec) === JSON.stringify(lastReceived.spec);
  /** A signal nobody's validator saw: dropped, and said so where an operator looks. */
  function dropMalformed(signal: string, reason: string): void {
    remember({ message: `Ignored a malformed ${signal} signal: ${reason}` });
    log.warn("ignored a malformed signal", { signal, reason });
  }

  const onRevision = (input: RevisionMessage): void => {
    let message = input;
    if (hardened()) {
      const checked = checkRevisionMessage(input);
      if (!checked.ok) {
        dropMalformed("revision", checked.reason);
        return;
      }
      message = checked.value;
    }
    if (isRepeat(message) && patched(REPEATED_REVISION_PATCH)) return;
    lastReceived = message;
    inbox.push({ kind: "revision", message });
  };
  const onDelete = (): void => {
    inbox.push({ kind: "delete" });
  };
  const internal = { description: MESSAGE_DESCRIPTIONS.internal };
  setHandler(revisionSignal, onRevision, internal);
  setHandler(deleteSignal, onDelete, internal);
  if (!patched(INTERNAL_NAMES_PATCH)) {
    setHandler(legacyRevisionSignal, onRevision, internal);
    setHandler(legacyDeleteSignal, onDelete, internal);
  }

  const enqueue = (name: Command["name"], input: CommandInput & { gate?: GateType }): number => {
    const id = nextCommandId++;
    inbox.push({
      kind: "command",
      id,
      command: { name, by: input.by || "unknown", reason: input.reason ?? "", gate: input.gate },
    });
    return id;
  };
  /** The input with long texts cut, or unchanged when it does not check (a validator rejected it already). */
  const trimmed = (input: CommandInput | ApproveInput): CommandInput | CheckedCommandInput => {
    const checked = checkCommandInput(input);
    return checked.ok ? checked.value : input;
  };
  const signalCommand = (name: Command["name"]) => (input: CommandInput | ApproveInput) => {
    if (!hardened()) {
      enqueue(name, input);
      return;
    }
    const checked = checkCommandInput(input);
    if (!checked.ok) {
      dropMalformed(name, checked.reason);
      return;
    }
    enqueue(name, checked.value);
  };
  for (const [signal, name] of [
    [approveSignal, "approve"],
    [skipSignal, "skip"],
    [abortSignal, "abort"],
    [pauseSignal, "pause"],
    [resumeSignal, "resume"],
    [retrySignal, "retry"],
  ] as const) {
    setHandler(signal, signalCommand(name), { description: MESSAGE_DESCRIPTIONS[name] });
  }

  /** An update is validated against the current state, applied by the main loop, then answered. */
  const updateCommand =
    (name: Command["name"]) =>
    async (input: CommandInput | ApproveInput): Promise<CommandResult> => {
      const id = enqueue(name, trimmed(input));
      if (!hardened()) await condition(() => applied.has(id));
      else if (!(await condition(() => applied.has(id), UPDATE_WAIT))) {
        throw ApplicationFailure.nonRetryable(
          `${name} is queued but not applied yet: the canary is busy (${busyWith || "working"}); ` +
            "it is applied as soon as that ends",
          "CommandPending",
        );
      }
      const outcome = applied.get(id) as { ok: boolean; message: string };
      // The state may have moved between validation and application: then the caller learns why.
      if (!outcome.ok) throw ApplicationFailure.nonRetryable(outcome.message, "CommandRejected");
      return { accepted: true, phase: state.phase, message: outcome.message };
    };
  const validator = (name: Command["name"]) => (input: CommandInput | ApproveInput) => {
    const checked = checkCommandInput(input);
    if (!checked.ok) throw new Error(`${name}: ${checked.reason}`);
    const check = checkCommand(state, { name, gate: checked.value.gate });
    if (!check.ok) throw new Error(check.reason);
  };
  for (const [update, name] of [
    [approveUpdate, "approve"],
    [skipUpdate, "skip"],
    [abortUpdate, "abort"],
    [pauseUpdate, "pause"],
    [resumeUpdate, "resume"],
    [retryUpdate, "retry"],
  ] as const) {
    setHandler(update, updateCommand(name), {
      validator: validator(name),
      description: MESSAGE_DESCRIPTIONS[name],
    });
  }

  setHandler(statusQuery, (): CanaryStatusView => statusView());

  function statusView(): CanaryStatusView {
    const projected = projectStatus(state);
    const gate = state.gate;
    const timeoutMs = gate && spec ? gateTimeoutMs(spec.analysis, gate.type) : undefined;
    const deadline = gate ? gateDeadlineMs(gate, timeoutMs) : undefined;
    return {
      namespace: ref.namespace,
      name: ref.name,
      phase: state.phase,
      revision: state.revision,
      lastPromotedRevision: state.lastPromotedRevision,
      failedRevision: state.lastFailedRevision,
      routes: state.route,
      failedChecks: state.failedChecks,
      iterations: state.iterations,
      step: steps,
      paused: state.pausedAtMs !== undefined,
      pendingGate: gate && {
        gate: gate.type,
        since: new Date(gate.sinceMs).toISOString(),
        deadline: deadline === undefined ? undefined : new Date(deadline).toISOString(),
        webhooks: lastAnalysis.webhooks.filter((w) => w.type === gate.type),
      },
      lastAnalysis,
      message: projected.condition.message,
      timeline,
    };
  }

  // ---- carrying out decisions ------------------------------------------------------------

  /** Feeds one event to the state machine and carries out its effects, in order. */
  async function feed(event: RolloutEvent): Promise<void> {
    if (!spec) return;
    const before = state;
    const result = transition(state, event, { spec, nowMs: now() });
    state = result.state;
    if (isRollingOut(before.phase) && (state.phase === "Succeeded" || state.phase === "Failed")) {
      rolloutEnded = true;
    }
    // A new rollout, a confirmed one, or a promotion starts its first step at once, not an interval later.
    const startsNow =
      state.revision !== before.revision ||
      (state.phase !== before.phase &&
        (state.phase === "Promoting" || (state.phase === "Progressing" && before.phase === "Waiting")));
    if (startsNow) nextStepAtMs = undefined;
    if (state.revision !== before.revision || (before.phase === "Failed" && isRollingOut(state.phase))) {
      steps = 0;
      readyDeadlineAtMs = undefined;
    }
    if (patched(ROLLOUT_WORKFLOWS_PATCH)) await trackRollout(before);
    if (!hardened()) {
      for (const effect of result.effects) await carryOut(effect);
    } else {
      unfinished.push(...result.effects);
      const done = await settle();
      if (before.phase !== state.phase || before.route !== state.route) publish();
      syncStatus();
      if (!done) throw new Stalled(stall?.reason);
      return;
    }
    if (before.phase !== state.phase || before.route !== state.route) publish();
    syncStatus();
  }

  /**
   * Keeps the rollout workflows in step with the state: one begins with each rollout (a new
   * revision, a retry) and is told its outcome when the rollout ends, is superseded or deleted.
   * Neither can hold the canary: a failure to start or tell one is logged and the canary goes on.
   */
  async function trackRollout(before: RolloutState): Promise<void> {
    const rolling = isRollingOut(state.phase);
    const began = rolling && (state.revision !== before.revision || !isRollingOut(before.phase));
    if (openRollout && (began || !rolling)) {
      const outcome: RolloutOutcome = began
        ? "Superseded"
        : state.phase === "Succeeded" || state.phase === "Failed"
          ? state.phase
          : "Deleted";
      const message = began
        ? `superseded by revision ${state.revision}`
        : outcome === "Failed"
          ? `Rolled back revision ${openRollout.revision}: ${state.failureReason ?? "failed"}`
          : projectStatus(state).condition.message;
      await endRollout(outcome, message);
    }
    if (began) await beginRollout();
  }

  async function beginRollout(): Promise<void> {
    rolloutCount++;
    const info = workflowInfo();
    const id = `${info.workflowId}/rollouts/${info.firstExecutionRunId.slice(0, 8)}-${rolloutCount}`;
    const revision = state.revision ?? "";
    const from = state.lastPromotedRevision;
    try {
      await startChild(rolloutWorkflow, {
        workflowId: id,
        args: [{ canary: ref, revision, from }],
        // The rollout outlives the run that began it when the canary workflow continues as new.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `${ref.namespace}/${ref.name}: rollout of revision ${revision} (primary runs ${from ?? "none"})`,
        typedSearchAttributes: [
          { key: searchAttributes.CanaryName, value: ref.name },
          { key: searchAttributes.CanaryNamespace, value: ref.namespace },
          { key: searchAttributes.TargetRevision, value: revision },
        ],
      });
      openRollout = { id, revision };
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn("the rollout's workflow did not start", { workflowId: id, error: describeError(err) });
    }
  }

  async function endRollout(outcome: RolloutOutcome, message: string): Promise<void> {
    const open = openRollout;
    openRollout = undefined;
    if (!open) return;
    try {
      await getExternalWorkflowHandle(open.id).signal(rolloutEndSignal, { outcome, message });
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn("the rollout's workflow could not be told its outcome", {
        workflowId: open.id,
        error: describeError(err),
      });
    }
  }

  /** Feeds an event; a failed effect stays queued for the main loop to retry. */
  async function feedQuietly(event: RolloutEvent): Promise<void> {
    try {
      await feed(event);
    } catch (err) {
      if (!(err instanceof Stalled)) throw err;
    }
  }

  /**
   * Carries out the unfinished effects in order. One that fails after its activity's retries stays
   * first in the queue, with the reason noted once: nothing after it runs (the canary is never
   * scaled down before traffic has left it), and the main loop tries again at the next interval.
   */
  async function settle(): Promise<boolean> {
    while (unfinished.length > 0) {
      const effect = unfinished[0] as Effect;
      busyWith = effectSummary(effect);
      try {
        await carryOut(effect);
      } catch (err) {
        if (isCancellation(err)) throw err;
        const reason = describeError(err);
        const permanent = isPermanent(err);
        if (stall?.reason !== reason)
          warn(`${effectSummary(effect)} failed: ${reason}; retrying at the next interval`);
        stall = { reason, permanent, retryAtMs: now() + (spec?.analysis.intervalMs ?? 10_000) };
        busyWith = "";
        return false;
      }
      unfinished.shift();
    }
    busyWith = "";
    stall = undefined;
    return true;
  }

  /**
   * A Kubernetes Event on the Canary, summarised in the workflow's timeline by its text: sent at
   * the end of the step in a lean run, else at once in the notify lane.
   */
  function recordEvent(event: CanaryEvent): void {
    if (lean) {
      outbox.events.push(event);
      return;
    }
    const t = target();
    reportLater("notify", "recordEvent", () =>
      report.recordEvent.executeWithOptions(
        { ...activityOptions.report, summary: short(`event ${event.type}: ${event.message}`) },
        [t, event],
      ),
    );
  }

  /** A Warning Event and a timeline entry, for what halts or stalls the rollout. */
  function warn(message: string): void {
    remember({ message });
    log.warn(message);
    recordEvent({ type: "Warning", reason: state.phase, message });
  }

  /** Notes why a step halted, once per distinct reason. */
  function halt(message: string): void {
    if (message === lastHalt) return;
    lastHalt = message;
    warn(message);
  }

  async function carryOut(effect: Effect): Promise<void> {
    const t = target();
    switch (effect.kind) {
      case "setRoutes":
        await call("cluster", "setRoutes", routeSummary(effect.route), effect.route);
        return;
      case "scaleCanary":
        await call(
          "cluster",
          "scaleCanary",
          `scale canary ${effect.to === "up" ? "up" : "to zero"}`,
          effect.to === "up" ? "desired" : "zero",
        );
        return;
      case "promote":
        await call("cluster", "promote", `promote revision ${state.revision} to primary`);
        return;
      case "postRolloutHooks":
        // Post-rollout hooks tell others; their failure must not hold the canary back.
        if (hardened()) await answersOrErrors("post-rollout");
        else await webhooks("post-rollout");
        return;
      case "alert": {
        const alert = { severity: effect.severity, phase: state.phase, message: effect.message };
        reportLater("notify", "alert", () =>
          report.alert.executeWithOptions(
            { ...activityOptions.report, summary: short(`alert (${alert.severity}): ${alert.message}`) },
            [t, alert],
          ),
        );
        return;
      }
      case "event": {
        remember({ message: effect.message });
        const phase = state.phase;
        const event = { type: effect.severity, reason: phase, message: effect.message } as const;
        recordEvent(event);
        if (spec?.analysis.webhooks.some((w) => w.type === "event")) {
          reportLater("notify", "event webhooks", () =>
            report.runWebhooks.executeWithOptions({ ...activityOptions.report, summary: "event webhooks" }, [
              t,
              "event",
              phase,
              event,
            ]),
          );
        }
        return;
      }
      case "finalize":
        await cluster.finalize.executeWithOptions(
          {
            ...activityOptions.cluster,
            summary: effect.revert ? "finalize: revert to the target" : "finalize",
          },
          [t, effect.revert],
        );
        return;
    }
  }

  /**
   * Reports run in lanes of their own so they never hold the rollout back: status writes one
   * after another (the last one wins), events and alerts one after another (they keep their
   * order). A report that fails after its retries is logged and the rollout goes on. The lanes
   * are drained before the run ends.
   */
  const lanes = { status: Promise.resolve(), notify: Promise.resolve() };
  function reportLater(lane: keyof typeof lanes, what: string, call: () => Promise<unknown>): void {
    lanes[lane] = lanes[lane].then(() =>
      call().then(
        () => undefined,
        (err: unknown) => {
          if (isCancellation(err)) throw err;
          log.warn(`${what} failed`, { error: describeError(err) });
        },
      ),
    );
  }
  const reportsDone = () => {
    flushReports();
    return Promise.all([lanes.status, lanes.notify]);
  };

  /** What a lean run reports when its step ends: the last status of each phase, and the Events in order. */
  let outbox: { status: StatusUpdate | undefined; events: CanaryEvent[] } = { status: undefined, events: [] };
  /** Sends the outbox in one call, in the status lane (one report after another). */
  function flushReports(): void {
    if (!outbox.status && outbox.events.length === 0) return;
    const sent = outbox;
    outbox = { status: undefined, events: [] };
    const parts = [
      ...(sent.status ? [`status: ${sent.status.phase}, ${sent.status.canaryWeight}% canary`] : []),
      ...(sent.events.length > 0 ? [`${sent.events.length} event(s)`] : []),
    ];
    reportLater("status", "report", () => call("report", "report", `report ${parts.join(", ")}`, sent));
  }

  /** Waits for a message, once what the step has to report is on its way. */
  async function waitForMail(): Promise<void> {
    flushReports();
    await condition(hasMail);
  }

  function webhooks(type: WebhookType): Promise<WebhookResult[]> {
    if (!spec?.analysis.webhooks.some((w) => w.type === type)) return Promise.resolve([]);
    return call("analysis", "runWebhooks", `${type} webhooks`, type, state.phase);
  }

  /** Writes status, search attributes and UI details when what they show has changed. */
  function publish(): void {
    const shown = `${state.phase}/${state.route.canaryWeight}/${state.revision ?? ""}`;
    // Each upsert is a history event: an idle canary woken by a message writes none.
    if (shown !== published || !patched(CHANGED_ATTRIBUTES_PATCH)) {
      upsertSearchAttributes([
        { key: searchAttributes.CanaryPhase, value: state.phase },
        { key: searchAttributes.CanaryWeight, value: state.route.canaryWeight },
        ...(state.revision ? [{ key: searchAttributes.TargetRevision, value: state.revision }] : []),
      ]);
      published = shown;
    }
    setCurrentDetails(details());
  }

  function syncStatus(): void {
    if (!spec) return;
    const projected = projectStatus(state);
    const metrics = patched(METRIC_STATUS_PATCH)
      ? lastAnalysis.metrics.map((m) => ({ name: m.name, value: m.value, verdict: m.verdict }))
      : undefined;
    const key = JSON.stringify(metrics === undefined ? projected : [projected, metrics]);
    if (key === synced) return;
    synced = key;
    const t = target();
    const status = {
      phase: state.phase,
      canaryWeight: projected.canaryWeight,
      failedChecks: projected.failedChecks,
      iterations: projected.iterations,
      revision: state.revision,
      lastPromotedRevision: state.lastPromotedRevision,
      message: projected.condition.message,
      ...(metrics === undefined ? {} : { metrics }),
      ...(statusMayBeStale ? { reread: true } : {}),
    };
    statusMayBeStale = false;
    if (lean) {
      // Every phase the canary passes through is written; within a phase only the last status.
      if (outbox.status && outbox.status.phase !== status.phase) flushReports();
      outbox.status = outbox.status?.reread ? { ...status, reread: true } : status;
      return;
    }
    const summary = `status: ${status.phase}, ${status.canaryWeight}% canary`;
    reportLater("status", "syncStatus", () =>
      report.syncStatus.executeWithOptions({ ...activityOptions.report, summary }, [t, status]),
    );
  }

  function details(): string {
    const view = statusView();
    const lines = [
      `**${ref.namespace}/${ref.name}** — ${view.phase}${view.paused ? " (paused)" : ""}`,
      "",
      `- revision: ${view.revision ?? "none"} (primary runs ${view.lastPromotedRevision ?? "none"})`,
      `- traffic: ${view.routes.primaryWeight}% primary / ${view.routes.canaryWeight}% canary${view.routes.mirror ? " + mirror" : ""}`,
      `- failed checks: ${view.failedChecks}${spec ? ` of ${spec.analysis.threshold}` : ""}, iterations: ${view.iterations}`,
      `- ${view.message}`,
    ];
    if (view.pendingGate) {
      lines.push(`- waiting at gate **${view.pendingGate.gate}** since ${view.pendingGate.since}`);
    }
    for (const m of view.lastAnalysis.metrics) lines.push(`- metric ${m.name}: ${m.verdict} — ${m.message}`);
    for (const w of view.lastAnalysis.webhooks)
      lines.push(`- webhook ${w.name} (${w.type}): ${w.verdict} — ${w.message}`);
    return lines.join("\n");
  }

  // ---- messages into events ------------------------------------------------------------

  async function handle(item: InboxItem): Promise<"continue" | "terminated"> {
    switch (item.kind) {
      case "revision": {
        const { message } = item;
        const stale = message.generation < generation;
        // A stale message's spec is old, but its revision is still news.
        if (stale && !hardened()) return "continue";
        if (!stale) {
          if ((message.generation > generation || message.resyncStatus) && patched(RESYNC_STATUS_PATCH)) {
            synced = "";
            // Another writer (the controller) may have changed the status: compare with a fresh read.
            statusMayBeStale = true;
          }
          generation = message.generation;
          useSpec(message.spec);
        }
        if (initialized) await feed({ type: "revision", revision: message.revision });
        else pendingRevision = message.revision;
        return "continue";
      }
      case "delete":
        if (!spec) return "terminated";
        if (!hardened()) {
          await feed({ type: "delete" });
          await feed({ type: "terminated" });
          syncStatus();
          return "terminated";
        }
        // Best-effort: what cannot be reverted is reported, and the canary is gone all the same.
        unfinished = [];
        await feedQuietly({ type: "delete" });
        unfinished = [];
        await feedQuietly({ type: "terminated" });
        syncStatus();
        return "terminated";
      case "command": {
        const { command } = item;
        const check = checkCommand(state, command);
        remember({
          message: check.ok ? `${command.name} accepted` : `${command.name} ignored: ${check.reason}`,
          by: command.by,
          reason: command.reason,
        });
        const gate = state.gate?.type;
        // An aborted rollout's rollback supersedes whatever was still to be done for it.
        if (hardened() && check.ok && command.name === "abort") unfinished = [];
        try {
          await feed({ type: "command", command });
          // An approved traffic or promotion gate takes its step now, not at the next interval.
          if (check.ok && command.name === "approve" && gate !== "confirm-rollout")
            await feed({ type: "advance" });
        } catch (err) {
          if (!(err instanceof Stalled)) throw err;
        }
        if (check.ok && (command.name === "resume" || command.name === "retry")) {
          nextStepAtMs = undefined;
          // Time spent paused is not the canary's fault: its progress deadline starts again.
          readyDeadlineAtMs = undefined;
        }
        const pending = stall ? ` (not carried out yet: ${stall.reason}; retrying)` : "";
        applied.set(item.id, {
          ok: check.ok,
          message: check.ok
            ? `${command.name}: ${projectStatus(state).condition.message}${pending}`
            : check.reason,
        });
        return "continue";
      }
    }
  }

  /** Revision seen before initialization finished; it starts once the primary exists. */
  let pendingRevision: string | undefined = carried?.pendingRevision;

  async function drainInbox(): Promise<"continue" | "terminated"> {
    while (inbox.length > 0) {
      const item = inbox.shift() as InboxItem;
      let outcome: "continue" | "terminated";
      try {
        outcome = await handle(item);
      } catch (err) {
        // The message was applied; its effects wait in the queue.
        if (!(err instanceof Stalled)) throw err;
        outcome = "continue";
      }
      if (outcome === "terminated") {
        if (hardened()) answerLeftCommands();
        return "terminated";
      }
    }
    return "continue";
  }

  /** Commands that arrived after the delete: their updates learn the canary is gone. */
  function answerLeftCommands(): void {
    for (const item of inbox) {
      if (item.kind === "command") applied.set(item.id, { ok: false, message: "the Canary was deleted" });
    }
  }

  // ---- observations ----------------------------------------------------------------------

  /**
   * Runs an activity that may take long (readiness), cancelling it when a message arrives so
   * the message is handled at once. Returns undefined when interrupted.
   */
  async function interruptible<T>(run: () => Promise<T>): Promise<{ value: T } | undefined> {
    flushReports();
    return CancellationScope.cancellable(async () => {
      const work = run().then((value) => ({ value }));
      const mail = condition(hasMail).then(() => undefined);
      try {
        return await Promise.race([work, mail]);
      } finally {
        CancellationScope.current().cancel();
        await work.catch(() => undefined);
      }
    });
  }

  /** One durable timer until `untilMs`, which any message ends at once. */
  async function sleepUntil(untilMs: number, summary: string): Promise<void> {
    flushReports();
    const ms = untilMs - now();
    if (ms > 0 && !hasMail()) await condition(hasMail, ms, { summary });
  }

  async function initialize(): Promise<void> {
    publish();
    syncStatus();
    if (hardened()) return initializeInterruptibly();
    try {
      await cluster.initialize.executeWithOptions(
        {
          ...activityOptions.cluster,
          startToCloseTimeout: "15m",
          scheduleToCloseTimeout: undefined,
          summary: "create primary, services and routes",
        },
        [target()],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Permanent: the user must fix the spec or create the target; a new message retries.
      const reason = describeError(err);
      remember({ message: `Initialization failed: ${reason}` });
      recordEvent({ type: "Warning", reason: "Initializing", message: reason });
      await waitForMail();
      return;
    }
    initialized = true;
    const revision = pendingRevision ?? state.revision ?? "";
    pendingRevision = undefined;
    await feed({ type: "initialized", revision });
  }

  /**
   * Initialization that a message interrupts (a new revision re-runs it with that revision, so a
   * first version that never became ready can be fixed), and that takes the primary's revision
   * from the cluster: an existing primary keeps what it runs, and a newer target revision becomes
   * a rollout instead of being marked promoted.
   */
  async function initializeInterruptibly(): Promise<void> {
    const revision = pendingRevision;
    const t: TargetMessage = { ...target(), revision };
    busyWith = "initializing: creating the primary, services and routes";
    let result: Awaited<ReturnType<CanaryActivities["initialize"]>>;
    try {
      const outcome = await interruptible(() =>
        cluster.initialize.executeWithOptions(
          {
            ...activityOptions.cluster,
            startToCloseTimeout: "15m",
            scheduleToCloseTimeout: undefined,
            // Heartbeats carry the cancellation to the activity within seconds.
            heartbeatTimeout: "10s",
            // A cancelled attempt must be over before the next one applies the primary again.
            cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary: "create primary, services and routes",
          },
          [t],
        ),
      );
      busyWith = "";
      if (!outcome) return;
      result = outcome.value;
    } catch (err) {
      busyWith = "";
      if (isCancellation(err)) throw err;
      // Permanent: the user must fix the spec or create the target; a new message retries.
      warn(`Initialization failed: ${describeError(err)}`);
      await waitForMail();
      return;
    }
    initialized = true;
    pendingRevision = undefined;
    const primary = result?.primaryRevision ?? revision ?? "";
    await feedQuietly({ type: "initialized", revision: primary });
    if (revision !== undefined && revision !== primary) {
      await feedQuietly({ type: "revision", revision });
    }
  }

  /** Answers of a type's webhooks; a call that failed for good is a failed answer per webhook, not a crash. */
  async function answersOrErrors(type: WebhookType): Promise<WebhookResult[]> {
    try {
      return await webhooks(type);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const reason = describeError(err);
      return (spec?.analysis.webhooks ?? [])
        .filter((w) => w.type === type)
        .map((w) => ({ name: w.name, type, verdict: "error", statusCode: undefined, message: reason }));
    }
  }

  /** The metric checks; when the activity failed for good, every metric is a failed check saying why. */
  async function metricsOrErrors(): Promise<MetricResult[]> {
    const live = spec as ResolvedCanarySpec;
    if (live.analysis.metrics.length === 0) return [];
    try {
      return await call("analysis", "runMetrics", "run metric checks");
    } catch (err) {
      if (isCancellation(err)) throw err;
      const reason = describeError(err);
      return live.analysis.metrics.map((m) => ({
        name: m.name,
        value: undefined,
        thresholdRange: m.thresholdRange,
        verdict: "error",
        message: `${m.name}: the check could not run: ${reason}`,
      }));
    }
  }

  /** One analysis interval while Progressing or WaitingPromotion. */
  async function analysisStep(): Promise<void> {
    if (hardened()) return hardenedAnalysisStep();
    const live = spec as ResolvedCanarySpec;
    const ready = await interruptible(() =>
      readiness.waitCanaryReady.executeWithOptions(
        { ...activityOptions.readiness, summary: "wait for the canary to be ready" },
        [target()],
      ),
    ).catch(async (err: unknown) => {
      if (isCancellation(err)) throw err;
      if (errorType(err) === NON_RETRYABLE_ERRORS.deadlineExceeded) {
        await feed({ type: "canaryNotReady", deadlineExceeded: true, reason: describeError(err) });
        return undefined;
      }
      throw err;
    });
    if (!ready || !isAnalysing(state.phase) || hasMail()) return;
    await cluster.checkPrimaryReady.executeWithOptions(
      { ...activityOptions.cluster, summary: "check the primary is ready" },
      [target()],
    );

    await checkAndAdvance(webhooks, () =>
      live.analysis.metrics.length === 0
        ? Promise.resolve([])
        : analysis.runMetrics.executeWithOptions(
            { ...activityOptions.analysis, summary: "run metric checks" },
            [target()],
          ),
    );
  }

  /**
   * One analysis interval, where nothing can hold the canary: the progress deadline is fixed when
   * the wait for readiness begins; a message interrupts the wait and the step runs again at once;
   * a primary that is not ready halts the step until the next interval, as in Flagger; checks
   * that could not run are failed checks.
   */
  async function hardenedAnalysisStep(): Promise<void> {
    const live = spec as ResolvedCanarySpec;
    readyDeadlineAtMs ??= now() + live.progressDeadlineSeconds * 1000;
    // A lean step looks first; it waits (a long, interruptible activity) only when the canary is not ready yet.
    let primary: ReadinessReport | undefined;
    if (lean) {
      const seen = await call("cluster", "stepReadiness", "check the canary and the primary are ready");
      if (seen.canary.ready) primary = seen.primary;
    }
    if (!primary && !(await waitForCanary(readyDeadlineAtMs))) return;
    if (!isAnalysing(state.phase)) return;
    readyDeadlineAtMs = undefined;
    primary ??= await call("cluster", "primaryReadiness", "check the primary is ready");
    if (!primary.ready) {
      halt(`Halting advancement: the primary is not ready: ${primary.message}`);
      return;
    }
    lastHalt = "";
    await checkAndAdvance(answersOrErrors, metricsOrErrors);
  }

  /** Waits for the canary to be ready; false when a message interrupted the wait or the deadline passed. */
  async function waitForCanary(deadlineAtMs: number): Promise<boolean> {
    busyWith = "waiting for the canary to be ready";
    let ready: { value: unknown } | undefined;
    try {
      ready = await interruptible(() =>
        readiness.waitCanaryReady.executeWithOptions(
          { ...activityOptions.readiness, summary: "wait for the canary to be ready" },
          [target(), { deadlineAtMs }],
        ),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (errorType(err) !== NON_RETRYABLE_ERRORS.deadlineExceeded) throw err;
      await feed({ type: "canaryNotReady", deadlineExceeded: true, reason: describeError(err) });
      return false;
    } finally {
      busyWith = "";
    }
    if (!ready) {
      // Interrupted by a message: this step has not run, so it runs once the message is handled.
      if (stepDueAtMs !== undefined) nextStepAtMs = stepDueAtMs;
      return false;
    }
    return true;
  }

  /**
   * The checks of a step once the canary is ready, then the strategy's next step when they pass:
   * skipAnalysis, rollback webhooks, pre-rollout webhooks at the start, else rollout webhooks and
   * metrics, then the step's gate.
   */
  async function checkAndAdvance(
    ask: (type: WebhookType) => Promise<WebhookResult[]>,
    measure: () => Promise<MetricResult[]>,
  ): Promise<void> {
    const live = spec as ResolvedCanarySpec;
    if (live.skipAnalysis) {
      await feed({ type: "skipAnalysis" });
      return;
    }
    const asked = (await ask("rollback")).find((w) => w.verdict === "pass");
    if (asked) {
      await feed({ type: "rollbackWebhook", webhook: asked.name });
      return;
    }

    steps++;
    let verdict: { passed: boolean; message: string };
    if (isAnalysisStart(live.analysis, state)) {
      const pre = await ask("pre-rollout");
      lastAnalysis = { metrics: [], webhooks: pre };
      verdict = summarizeChecks([], pre);
      await feed({ type: "checks", stage: "pre-rollout", passed: verdict.passed, message: verdict.message });
    } else {
      const [hooks, metrics] = await Promise.all([ask("rollout"), measure()]);
      lastAnalysis = { metrics, webhooks: hooks };
      verdict = summarizeChecks(metrics, hooks);
      await feed({ type: "checks", stage: "analysis", passed: verdict.passed, message: verdict.message });
    }
    if (!verdict.passed || !isAnalysing(state.phase)) return;

    const step = planStep(live.strategy.kind, live.analysis, state);
    if (step.gate) {
      const open = await checkGate(step.gate);
      if (!open) return;
    }
    await feed({ type: "advance" });
  }

  /** Asks a gate's webhooks; feeds the outcome; true when it is open. */
  async function checkGate(gate: GateType): Promise<boolean> {
    const live = spec as ResolvedCanarySpec;
    const answers = hardened() ? await answersOrErrors(gate) : await webhooks(gate);
    lastAnalysis = {
      ...lastAnalysis,
      webhooks: [...lastAnalysis.webhooks.filter((w) => w.type !== gate), ...answers],
    };
    const pending = state.gate?.type === gate ? state.gate : undefined;
    const outcome = evaluateGate({
      webhooksPassed: answers.length > 0 && answers.every((w) => w.verdict === "pass"),
      approved: false,
      sinceMs: pending?.sinceMs,
      nowMs: now(),
      timeoutMs: gateTimeoutMs(live.analysis, gate),
    });
    const detail = answers.map((w) => `${w.name}: ${w.message}`).join("; ") || "no answer";
    await feed({ type: "gate", gate, outcome, detail });
    return outcome === "open";
  }

  /** When the pending gate times out, so the wait ends then rather than at the next interval. */
  function gateDeadline(): number | undefined {
    if (!state.gate || !spec) return undefined;
    return gateDeadlineMs(state.gate, gateTimeoutMs(spec.analysis, state.gate.type));
  }

  // ---- the life of a canary --------------------------------------------------------------

  upsertSearchAttributes([
    { key: searchAttributes.CanaryName, value: ref.name },
    { key: searchAttributes.CanaryNamespace, value: ref.namespace },
  ]);
  // Every run shows what the canary is doing from its first task (details are no command).
  setCurrentDetails(details());
  // A revision that was queued while the last rollout finished starts in this run.
  if (initialized && state.queuedRevision && isIdle(state.phase)) {
    inbox.unshift({
      kind: "revision",
      message: { revision: state.queuedRevision, spec: spec as ResolvedCanarySpec, generation },
    });
  }

  for (;;) {
    if ((await drainInbox()) === "terminated") {
      publish();
      await reportsDone();
      // A Canary recreated under the same name sent its revision behind the delete: it starts afresh.
      if (hardened() && inbox.some((item) => item.kind === "revision")) {
        await condition(() => allHandlersFinished(), UPDATE_WAIT);
        const next = inbox.filter((item) => item.kind === "revision");
        return continueAsNew<typeof canaryWorkflow>({ ref, carried: freshStart(next) });
      }
      return { phase: "Terminated" };
    }
    syncStatus();

    if (rolloutEnded || workflowInfo().continueAsNewSuggested) {
      await reportsDone();
      // An update handler waits for this loop to apply its command: apply it before moving on.
      await condition(() => allHandlersFinished() || hasMail());
      if (!hasMail()) {
        return continueAsNew<typeof canaryWorkflow>({
          ref,
          carried: {
            rollout: state,
            spec,
            generation,
            initialized,
            inbox,
            timeline,
            lastAnalysis,
            nextCommandId,
            steps,
            nextStepAtMs,
            pendingRevision,
            lastReceived,
            unfinished,
            readyDeadlineAtMs,
            openRollout,
            rolloutCount,
          },
        });
      }
    }

    if (!spec) {
      await waitForMail();
      continue;
    }
    if (!initialized) {
      await initialize();
      continue;
    }
    if (unfinished.length > 0) {
      await retryUnfinished();
      continue;
    }
    if (isIdle(state.phase) || isFrozen(state, spec)) {
      publish();
      await waitForMail();
      continue;
    }

    const interval = spec.analysis.intervalMs;
    const scheduled = nextStepAtMs ?? now();
    // A gate with a timeout is checked again at its deadline, even between intervals.
    const due = Math.min(scheduled, gateDeadline() ?? Number.POSITIVE_INFINITY);
    if (now() < due) {
      await sleepUntil(due, `analysis interval ${formatDuration(interval)}`);
      continue;
    }
    if (scheduled <= now()) {
      // Keep a steady cadence; after falling behind (a long step), count the interval from now.
      nextStepAtMs = scheduled + interval > now() ? scheduled + interval : now() + interval;
    }

    stepDueAtMs = scheduled;
    const planned = nextStepAtMs;
    try {
      await step();
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (err instanceof Stalled) continue;
      // Retries are exhausted or the error is permanent: explain it, and roll back while possible.
      if (hardened()) await feedQuietly({ type: "failure", reason: describeError(err) });
      else await feed({ type: "failure", reason: describeError(err) });
    }
    // A step that outlasted its interval (calls retried through an outage) is followed by a whole
    // interval, not by the next step at once: every weight gets its time under analysis.
    if (lean && planned !== undefined && nextStepAtMs === planned && planned < now())
      nextStepAtMs = now() + interval;
  }

  /**
   * The queue holds effects whose activity failed: try the first again at its time. One that
   * failed for good (RBAC, a resource type not installed) rolls the canary back while that is
   * possible; the rollback's own effects replace the queue, since they are the state to reach.
   */
  async function retryUnfinished(): Promise<void> {
    const first = unfinished[0] as Effect;
    if (stall && now() < stall.retryAtMs) {
      await sleepUntil(stall.retryAtMs, `retry: ${effectSummary(first)}`);
      return;
    }
    if (stall?.permanent && isBeforePromotion(state.phase)) {
      const reason = `${effectSummary(first)} failed: ${stall.reason}`;
      unfinished = [];
      stall = undefined;
      await feedQuietly({ type: "failure", reason });
      return;
    }
    await settle();
  }

  /** The carried state of a new canary of the same name, with the messages it sent already. */
  function freshStart(messages: readonly InboxItem[]): CarriedState {
    return {
      rollout: initialRolloutState(),
      spec: undefined,
      generation: -1,
      initialized: false,
      inbox: messages,
      timeline: [],
      lastAnalysis: { metrics: [], webhooks: [] },
      nextCommandId,
      steps: 0,
      nextStepAtMs: undefined,
      pendingRevision: undefined,
      rolloutCount,
    };
  }

  async function step(): Promise<void> {
    switch (state.phase) {
      case "Waiting":
        await checkGate("confirm-rollout");
        return;
      case "Progressing":
      case "WaitingPromotion":
        await analysisStep();
        return;
      case "Promoting":
        if (hardened()) {
          const primary = await call("cluster", "primaryReadiness", "check the primary is ready");
          if (!primary.ready) {
            halt(`Waiting for the primary to be ready before traffic moves back to it: ${primary.message}`);
            return;
          }
          lastHalt = "";
        } else {
          await cluster.checkPrimaryReady.executeWithOptions(
            { ...activityOptions.cluster, summary: "wait for the primary to be ready" },
            [target()],
          );
        }
        await feed({ type: "promotionStep" });
        // The canary was scaled down by the promotion step's effects.
        if (phaseNow() === "Finalising") await feed({ type: "finalised" });
        return;
      case "Finalising":
        await feed({ type: "finalised" });
        return;
      default:
        return;
    }
  }
}
