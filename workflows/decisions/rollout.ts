/**
 * The rollout state machine: `transition(state, event, context)` returns the next state and the
 * effects to carry out, in order. The state is explicit (phase, revision bookkeeping, route,
 * counters, pending gate, pause); the workflow observes the world through activities, feeds what
 * it saw as events, and runs the effects as activities. The workflow decides when to observe
 * (timers, gate checks); this module decides what an observation means.
 *
 * Events that an analysis interval produces are ignored while the rollout is paused or the
 * Canary is suspended, so a result that lands after a pause cannot move the rollout.
 */
import type { AlertSeverity, CanaryPhase, GateType } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { formatDuration } from "../../src/api/duration.ts";
import { recordFailedCheck } from "./checks.ts";
import { type Command, checkCommand } from "./commands.ts";
import { type GateOutcome, gateAlertMuted, hasGate, type PendingGate } from "./gates.ts";
import { isAnalysing, isBeforePromotion } from "./phases.ts";
import { describeStep, planStep } from "./progress.ts";
import { nextPromotionRoute } from "./promotion.ts";
import { decideRevision } from "./revision.ts";
import { PRIMARY_ONLY, type Route, sameRoute } from "./routes.ts";

/** The parts of the (defaulted) Canary spec the state machine reads. */
export type RolloutSpec = Pick<
  ResolvedCanarySpec,
  "strategy" | "analysis" | "suspend" | "revertOnDeletion" | "targetRef"
>;

export interface RolloutContext {
  /** The spec as of this event: edits apply from the next event on. */
  readonly spec: RolloutSpec;
  /** Workflow time, for gate timeouts and pause bookkeeping. */
  readonly nowMs: number;
}

export interface RolloutState {
  readonly phase: CanaryPhase;
  /** Revision of the rollout under way, or of the last one. */
  readonly revision: string | undefined;
  /** Revision the primary runs. */
  readonly lastPromotedRevision: string | undefined;
  readonly lastFailedRevision: string | undefined;
  /** Newest revision that arrived while it could not start (initializing, promoting, suspended). */
  readonly queuedRevision: string | undefined;
  readonly route: Route;
  /** Analysis runs completed (blue/green, A/B testing). */
  readonly iterations: number;
  readonly failedChecks: number;
  /** The closed gate the rollout waits at. */
  readonly gate: PendingGate | undefined;
  /** Set while an operator pause holds the rollout. */
  readonly pausedAtMs: number | undefined;
  /** Why the last rollout was rolled back. */
  readonly failureReason: string | undefined;
}

export type RolloutEvent =
  /** The primary exists and is ready; it runs `revision`. */
  | { readonly type: "initialized"; readonly revision: string }
  /** The controller saw this target revision. */
  | { readonly type: "revision"; readonly revision: string }
  /** A gate was evaluated; `detail` says why (webhook answers, timeout). */
  | { readonly type: "gate"; readonly gate: GateType; readonly outcome: GateOutcome; readonly detail: string }
  | { readonly type: "canaryNotReady"; readonly deadlineExceeded: boolean; readonly reason: string }
  /** A rollback webhook answered 2xx. */
  | { readonly type: "rollbackWebhook"; readonly webhook: string }
  /** Pre-rollout webhooks (at the start) or rollout webhooks and metrics (afterwards) ran. */
  | {
      readonly type: "checks";
      readonly stage: "pre-rollout" | "analysis";
      readonly passed: boolean;
      readonly message: string;
    }
  /** Checks passed and any gate of the next step is open: take the strategy's next step. */
  | { readonly type: "advance" }
  /** The spec says skipAnalysis and the canary is ready. */
  | { readonly type: "skipAnalysis" }
  /** The primary runs the new revision and is ready: shift traffic back towards it. */
  | { readonly type: "promotionStep" }
  /** The canary is scaled down after promotion. */
  | { readonly type: "finalised" }
  | { readonly type: "command"; readonly command: Command }
  /** An action failed for good (RBAC forbids it, the target is gone): roll back while that is possible. */
  | { readonly type: "failure"; readonly reason: string }
  | { readonly type: "delete" }
  | { readonly type: "terminated" };

export type Effect =
  | { readonly kind: "setRoutes"; readonly route: Route }
  | { readonly kind: "scaleCanary"; readonly to: "zero" | "up" }
  /** Copy the target's template (and its ConfigMaps/Secrets) to the primary. */
  | { readonly kind: "promote" }
  | { readonly kind: "postRolloutHooks"; readonly phase: "Succeeded" | "Failed" }
  | { readonly kind: "alert"; readonly severity: AlertSeverity; readonly message: string }
  /** A Kubernetes Event on the Canary and an entry in the rollout timeline. */
  | { readonly kind: "event"; readonly severity: "Normal" | "Warning"; readonly message: string }
  /** Remove what the operator created; with revert, give the target back its traffic and replicas. */
  | { readonly kind: "finalize"; readonly revert: boolean };

export interface Transition {
  readonly state: RolloutState;
  readonly effects: readonly Effect[];
}

/** What a rollout starts from: all traffic on the primary, no counts, no gate, pause or failure. */
const FRESH_ROLLOUT = {
  route: PRIMARY_ONLY,
  iterations: 0,
  failedChecks: 0,
  gate: undefined,
  pausedAtMs: undefined,
  failureReason: undefined,
} as const satisfies Partial<RolloutState>;

export function initialRolloutState(): RolloutState {
  return {
    phase: "Initializing",
    revision: undefined,
    lastPromotedRevision: undefined,
    lastFailedRevision: undefined,
    queuedRevision: undefined,
    ...FRESH_ROLLOUT,
  };
}

/** Paused by an operator or suspended in the spec: no interval runs and no timer counts. */
export function isFrozen(
  state: Pick<RolloutState, "pausedAtMs">,
  spec: Pick<RolloutSpec, "suspend">,
): boolean {
  return state.pausedAtMs !== undefined || spec.suspend;
}

export function transition(state: RolloutState, event: RolloutEvent, context: RolloutContext): Transition {
  const frozen = isFrozen(state, context.spec);
  switch (event.type) {
    case "initialized":
      return onInitialized(state, event.revision, context);
    case "revision":
      return onRevision(state, event.revision, context);
    case "gate":
      return onGate(state, event.gate, event.outcome, event.detail, frozen, context);
    case "canaryNotReady":
      if (!isAnalysing(state.phase) || frozen) return unchanged(state);
      if (event.deadlineExceeded) {
        return rollback(
          state,
          `the canary did not become ready within the progress deadline: ${event.reason}`,
          context,
        );
      }
      return { state, effects: [note("Warning", `Waiting for the canary to become ready: ${event.reason}`)] };
    case "rollbackWebhook":
      if (!isBeforePromotion(state.phase) || frozen) return unchanged(state);
      return rollback(state, `rollback webhook ${event.webhook} asked for a rollback`, context);
    case "checks":
      if (!isAnalysing(state.phase) || frozen) return unchanged(state);
      return onChecks(state, event.stage, event.passed, event.message, context);
    case "advance":
      if (!isAnalysing(state.phase) || frozen || state.gate !== undefined) return unchanged(state);
      return onAdvance(state, context);
    case "skipAnalysis":
      // Not from Waiting: the confirm-rollout gate guards every rollout, skipped or not.
      if (!isAnalysing(state.phase) || frozen) return unchanged(state);
      return promoteNow(state, "the Canary sets skipAnalysis");
    case "promotionStep":
      if (state.phase !== "Promoting" || frozen) return unchanged(state);
      return onPromotionStep(state, context);
    case "finalised":
      if (state.phase !== "Finalising") return unchanged(state);
      return {
        state: {
          ...state,
          phase: "Succeeded",
          lastPromotedRevision: state.revision,
          route: PRIMARY_ONLY,
          iterations: 0,
          failedChecks: 0,
        },
        effects: [
          note("Normal", `Promotion of revision ${state.revision} finished; the canary is scaled down`),
          {
            kind: "alert",
            severity: "info",
            message: `${target(context)}: revision ${state.revision} promoted.`,
          },
          { kind: "postRolloutHooks", phase: "Succeeded" },
        ],
      };
    case "command":
      return onCommand(state, event.command, context);
    case "failure":
      if (isBeforePromotion(state.phase)) return rollback(state, event.reason, context);
      return { state, effects: [note("Warning", event.reason)] };
    case "delete":
      if (state.phase === "Terminating" || state.phase === "Terminated") return unchanged(state);
      return {
        state: { ...state, phase: "Terminating", gate: undefined, pausedAtMs: undefined },
        effects: [
          note(
            "Normal",
            context.spec.revertOnDeletion
              ? "Canary deleted: handing traffic and replicas back to the target"
              : "Canary deleted: leaving the target as it is",
          ),
          { kind: "finalize", revert: context.spec.revertOnDeletion },
        ],
      };
    case "terminated":
      return state.phase === "Terminating"
        ? { state: { ...state, phase: "Terminated" }, effects: [] }
        : unchanged(state);
  }
}

function unchanged(state: RolloutState): Transition {
  return { state, effects: [] };
}

function note(severity: "Normal" | "Warning", message: string): Effect {
  return { kind: "event", severity, message };
}

function target(context: RolloutContext): string {
  const { kind, name } = context.spec.targetRef;
  return `${kind} ${name}`;
}

function onInitialized(state: RolloutState, revision: string, context: RolloutContext): Transition {
  if (state.phase !== "Initializing") return unchanged(state);
  return {
    state: { ...state, phase: "Initialized", revision, lastPromotedRevision: revision },
    effects: [
      note("Normal", `Initialized: ${context.spec.targetRef.name}-primary runs revision ${revision}`),
      {
        kind: "alert",
        severity: "info",
        message: `${target(context)}: canary initialized at revision ${revision}.`,
      },
    ],
  };
}

function onRevision(state: RolloutState, revision: string, context: RolloutContext): Transition {
  const decision = decideRevision({ ...state, suspended: context.spec.suspend }, revision);
  switch (decision.action) {
    case "ignore":
      return unchanged(state);
    case "queue":
      if (state.queuedRevision === revision) return unchanged(state);
      return {
        state: { ...state, queuedRevision: revision },
        effects: [note("Normal", `Revision ${revision} queued: ${decision.reason}`)],
      };
    case "start":
      return startRollout(state, revision, `New revision ${revision} detected`, context);
    case "restart":
      return restartRollout(state, revision, context);
  }
}

/** The queue once `revision` starts: a queued copy of it is no longer pending. */
function dequeue(state: RolloutState, revision: string): string | undefined {
  return state.queuedRevision === revision ? undefined : state.queuedRevision;
}

/** A fresh rollout of `revision`: counters reset, then the confirm-rollout gate or analysis. */
function startRollout(
  state: RolloutState,
  revision: string,
  headline: string,
  context: RolloutContext,
): Transition {
  const fresh: RolloutState = {
    ...state,
    revision,
    queuedRevision: dequeue(state, revision),
    ...FRESH_ROLLOUT,
  };
  if (hasGate(context.spec.analysis, "confirm-rollout")) {
    return {
      state: {
        ...fresh,
        phase: "Waiting",
        gate: { type: "confirm-rollout", sinceMs: context.nowMs, checkedAtMs: undefined },
      },
      effects: [note("Normal", `${headline}; checking the confirm-rollout gate`)],
    };
  }
  return beginAnalysis(fresh, headline, context);
}

function beginAnalysis(state: RolloutState, headline: string, context: RolloutContext): Transition {
  return {
    state: { ...state, phase: "Progressing", gate: undefined },
    effects: [
      { kind: "scaleCanary", to: "up" },
      note("Normal", `${headline}; scaling up ${context.spec.targetRef.name} and starting the analysis`),
      { kind: "alert", severity: "info", message: `${target(context)}: ${headline}; analysis starts.` },
    ],
  };
}

function restartRollout(state: RolloutState, revision: string, context: RolloutContext): Transition {
  const headline = `New revision ${revision} replaces ${state.revision}`;
  if (state.phase === "Waiting") {
    return {
      state: {
        ...state,
        revision,
        queuedRevision: dequeue(state, revision),
        gate: { type: "confirm-rollout", sinceMs: context.nowMs, checkedAtMs: undefined },
      },
      effects: [note("Normal", `${headline}; checking the confirm-rollout gate again`)],
    };
  }
  return {
    state: {
      ...state,
      phase: "Progressing",
      revision,
      queuedRevision: dequeue(state, revision),
      route: PRIMARY_ONLY,
      iterations: 0,
      failedChecks: 0,
      gate: undefined,
    },
    effects: [
      { kind: "setRoutes", route: PRIMARY_ONLY },
      note("Normal", `${headline}; restarting the analysis`),
    ],
  };
}

/** Which gate each phase can be held at. */
function gateApplies(phase: CanaryPhase, gate: GateType): boolean {
  switch (gate) {
    case "confirm-rollout":
      return phase === "Waiting";
    case "confirm-traffic-increase":
      return phase === "Progressing";
    case "confirm-promotion":
      return isAnalysing(phase);
  }
}

function onGate(
  state: RolloutState,
  gate: GateType,
  outcome: GateOutcome,
  detail: string,
  frozen: boolean,
  context: RolloutContext,
): Transition {
  if (!gateApplies(state.phase, gate)) return unchanged(state);
  switch (outcome) {
    case "open":
      return openGate(state, gate, detail, context);
    case "closed": {
      if (frozen) return unchanged(state);
      const pending = state.gate?.type === gate ? state.gate : undefined;
      const held: RolloutState = {
        ...state,
        phase: gate === "confirm-promotion" ? "WaitingPromotion" : state.phase,
        gate: { type: gate, sinceMs: pending?.sinceMs ?? context.nowMs, checkedAtMs: context.nowMs },
      };
      // Announce a wait once, at its first closed answer; later answers only refresh the check time.
      if (pending?.checkedAtMs !== undefined) return { state: held, effects: [] };
      return {
        state: held,
        effects: [
          note("Warning", `Holding at the ${gate} gate: ${detail}`),
          ...(gateAlertMuted(context.spec.analysis, gate)
            ? []
            : [
                {
                  kind: "alert",
                  severity: "warn",
                  message: `${target(context)}: revision ${state.revision} waits for approval at the ${gate} gate (${detail}).`,
                } as const,
              ]),
        ],
      };
    }
    case "timeout":
      if (frozen || state.gate?.type !== gate) return unchanged(state);
      return rollback(state, `the ${gate} gate did not open in time: ${detail}`, context);
  }
}

function openGate(state: RolloutState, gate: GateType, detail: string, context: RolloutContext): Transition {
  const opened: RolloutState = { ...state, gate: undefined };
  const message = note("Normal", `The ${gate} gate opened: ${detail}`);
  if (gate === "confirm-rollout") {
    const begun = beginAnalysis(opened, `Revision ${state.revision} confirmed`, context);
    return { state: begun.state, effects: [message, ...begun.effects] };
  }
  return { state: { ...opened, phase: "Progressing" }, effects: [message] };
}

function onChecks(
  state: RolloutState,
  stage: "pre-rollout" | "analysis",
  passed: boolean,
  message: string,
  context: RolloutContext,
): Transition {
  const starting =
    stage === "pre-rollout" ? [note("Normal", `Starting the analysis of revision ${state.revision}`)] : [];
  if (passed) return { state, effects: starting };
  const { threshold } = context.spec.analysis;
  const counted = recordFailedCheck(state.failedChecks, threshold);
  const failed: RolloutState = { ...state, failedChecks: counted.failedChecks };
  const halted: Effect[] = [
    ...starting,
    note("Warning", `Check failed (${counted.failedChecks} of ${threshold} allowed): ${message}`),
    ...(stage === "pre-rollout"
      ? [
          {
            kind: "alert",
            severity: "warn",
            message: `${target(context)}: pre-rollout checks of revision ${state.revision} failed: ${message}`,
          } as const,
        ]
      : []),
  ];
  if (!counted.thresholdReached) return { state: failed, effects: halted };
  const rolledBack = rollback(
    failed,
    `${counted.failedChecks} failed checks reached the threshold: ${message}`,
    context,
  );
  return { state: rolledBack.state, effects: [...halted, ...rolledBack.effects] };
}

function onAdvance(state: RolloutState, context: RolloutContext): Transition {
  const { strategy, analysis } = context.spec;
  const step = planStep(strategy.kind, analysis, state);
  if (step.kind === "promote") return promoteNow(state, "the analysis succeeded");
  return {
    state: { ...state, phase: "Progressing", route: step.route, iterations: step.iterations },
    effects: [
      ...(sameRoute(state.route, step.route) ? [] : [{ kind: "setRoutes", route: step.route } as const]),
      note("Normal", `Advance: ${describeStep(strategy.kind, analysis, step)}`),
    ],
  };
}

function promoteNow(state: RolloutState, why: string): Transition {
  return {
    state: { ...state, phase: "Promoting", gate: undefined },
    effects: [
      note("Normal", `Promoting revision ${state.revision} to the primary: ${why}`),
      { kind: "promote" },
    ],
  };
}

function onPromotionStep(state: RolloutState, context: RolloutContext): Transition {
  const route = nextPromotionRoute(context.spec.analysis.stepWeightPromotion, state.route);
  const routing: Effect[] = sameRoute(route, state.route) ? [] : [{ kind: "setRoutes", route }];
  if (route.canaryWeight > 0) {
    return {
      state: { ...state, route },
      effects: [...routing, note("Normal", `Promotion: route ${route.primaryWeight}% to primary`)],
    };
  }
  return {
    state: { ...state, route, phase: "Finalising" },
    effects: [
      ...routing,
      note("Normal", "Promotion: all traffic on the primary; scaling down the canary"),
      { kind: "scaleCanary", to: "zero" },
    ],
  };
}

function rollback(state: RolloutState, reason: string, context: RolloutContext): Transition {
  return {
    state: {
      ...state,
      phase: "Failed",
      route: PRIMARY_ONLY,
      iterations: 0,
      gate: undefined,
      pausedAtMs: undefined,
      lastFailedRevision: state.revision,
      failureReason: reason,
    },
    effects: [
      { kind: "setRoutes", route: PRIMARY_ONLY },
      { kind: "scaleCanary", to: "zero" },
      note("Warning", `Rolled back revision ${state.revision}: ${reason}`),
      {
        kind: "alert",
        severity: "error",
        message: `${target(context)}: rolled back revision ${state.revision}: ${reason}`,
      },
      { kind: "postRolloutHooks", phase: "Failed" },
    ],
  };
}

function onCommand(state: RolloutState, command: Command, context: RolloutContext): Transition {
  const who = command.reason === "" ? command.by : `${command.by} (${command.reason})`;
  const check = checkCommand(state, command);
  if (!check.ok)
    return { state, effects: [note("Warning", `Ignored ${command.name} from ${who}: ${check.reason}`)] };
  switch (command.name) {
    case "approve":
      return openGate(state, (state.gate as PendingGate).type, `approved by ${who}`, context);
    case "skip":
      return promoteNow(state, `analysis skipped by ${who}`);
    case "abort":
      return rollback(state, `aborted by ${who}`, context);
    case "pause":
      return {
        state: { ...state, pausedAtMs: context.nowMs },
        effects: [note("Normal", `Paused by ${who}`)],
      };
    case "resume": {
      // The pause does not count against a gate's timeout: its clock stood still too.
      const pausedMs = context.nowMs - (state.pausedAtMs as number);
      const gate = state.gate && { ...state.gate, sinceMs: state.gate.sinceMs + pausedMs };
      return {
        state: { ...state, pausedAtMs: undefined, gate },
        effects: [note("Normal", `Resumed by ${who} after ${formatDuration(pausedMs)}`)],
      };
    }
    case "retry": {
      const revision = state.lastFailedRevision as string;
      return startRollout(state, revision, `Retrying revision ${revision} for ${who}`, context);
    }
  }
}
