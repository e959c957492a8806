/**
 * The activities the canary workflow calls: the port between deciding and doing. The workflow
 * knows no provider and no Kubernetes object; `activities/` implements this interface against a
 * real cluster, and the workflow tests implement it with an in-memory model.
 *
 * Every activity is idempotent: Temporal may run it again after a worker crash.
 */
import type { ActivityOptions, LocalActivityOptions } from "@temporalio/workflow";
import type { AlertSeverity, CanaryPhase, WebhookType } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { Route } from "./decisions/routes.ts";

/** The Canary object a workflow serves. */
export interface CanaryRef {
  readonly namespace: string;
  readonly name: string;
}

/** What every activity is told: which canary, with the spec in force for this step. */
export interface Target {
  readonly ref: CanaryRef;
  readonly spec: ResolvedCanarySpec;
  /** The revision being rolled out, if any. */
  readonly revision?: string | undefined;
}

/**
 * What the workflow sends as an activity's first argument: since the compact-inputs patch, the
 * spec's digest instead of the spec, so a long rollout's history does not hold the spec in every
 * call. The worker resolves the digest (see activities/target-spec.ts) before the activity runs.
 */
export interface TargetMessage {
  readonly ref: CanaryRef;
  readonly revision?: string | undefined;
  readonly spec?: ResolvedCanarySpec;
  readonly specDigest?: string;
}

/** An activity as the workflow calls it: the same, with a TargetMessage for its Target. */
type OnTheWire<F> = F extends (target: Target, ...rest: infer Rest) => infer Out
  ? (target: TargetMessage, ...rest: Rest) => Out
  : never;

export type CanaryActivityCalls = { [K in keyof CanaryActivities]: OnTheWire<CanaryActivities[K]> };

/** The traffic split: primary and canary weights (summing to 100) and whether the canary gets a mirror. */
export type Routes = Route;

export type Verdict = "pass" | "fail" | "error";

export interface MetricResult {
  readonly name: string;
  /** Undefined when the query failed or returned nothing. */
  readonly value: number | undefined;
  readonly thresholdRange: { readonly min?: number | undefined; readonly max?: number | undefined };
  readonly verdict: Verdict;
  /** Why, with numbers: "request-success-rate 93.10 < 99". */
  readonly message: string;
}

export interface WebhookResult {
  readonly name: string;
  readonly type: WebhookType;
  readonly verdict: Verdict;
  readonly statusCode: number | undefined;
  /** A bounded excerpt of the response body, or the transport error. */
  readonly message: string;
}

export interface StatusUpdate {
  readonly phase: CanaryPhase;
  readonly canaryWeight: number;
  readonly failedChecks: number;
  readonly iterations: number;
  readonly revision: string | undefined;
  readonly lastPromotedRevision: string | undefined;
  /** The Promoted condition: reason is the phase, message is the cause in words. */
  readonly message: string;
  /** The last analysis's metric values (status.lastAnalysis); left out, the status keeps what it has. */
  readonly metrics?: readonly MetricValue[];
  /** Read the Canary before comparing: someone else may have written its status since. */
  readonly reread?: boolean;
}

export interface MetricValue {
  readonly name: string;
  readonly value: number | undefined;
  readonly verdict: Verdict;
}

export interface CanaryEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export interface Alert {
  readonly severity: AlertSeverity;
  readonly phase: CanaryPhase;
  readonly message: string;
}

/** What initialization found in the cluster. */
export interface InitializeResult {
  /**
   * The revision the primary runs: read from an existing primary (its revision annotation), or
   * `target.revision` when the primary was created (or re-created from a never-ready first
   * version) by this call. A primary Flagger made (no revision annotation) runs `target.revision`
   * when it is the target's copy, else what Flagger's status says it last promoted.
   */
  readonly primaryRevision: string | undefined;
  /**
   * Set when the Canary was taken over from another controller (Flagger) that had rolled the
   * target's revision back, or was rolling it out: that revision is recorded as failed, not
   * rolled out again on its own.
   */
  readonly rolledBack?: { readonly revision: string; readonly reason: string };
}

/** A workload's readiness at one moment, in words when it is not ready. */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly message: string;
}

/** The canary's and the primary's readiness at one moment, read together. */
export interface StepReadiness {
  readonly canary: ReadinessReport;
  readonly primary: ReadinessReport;
}

/** What one step has to tell the cluster: the status (when it changed) and the Events, in order. */
export interface StepReport {
  readonly status?: StatusUpdate | undefined;
  readonly events: readonly CanaryEvent[];
}

export interface WaitReadyOptions {
  /**
   * Epoch ms by which the canary must be ready, anchored by the workflow when it started waiting
   * for this revision, so restarted or repeated waits cannot push the progress deadline back.
   */
  readonly deadlineAtMs?: number;
}

export interface CanaryActivities {
  /**
   * Takes the canary over, reading what the cluster already holds: creates what is missing
   * (primary, services, autoscaler copy, routes); routes 100% to the primary **before** scaling
   * anything down; never overwrites a primary that was promoted (one that never became ready
   * with an older first version is re-applied from the target); scales the target to zero once
   * the primary is ready.
   */
  initialize(target: Target): Promise<InitializeResult>;
  /** Throws a retryable error while the primary has fewer ready replicas than primaryReadyThreshold. */
  checkPrimaryReady(target: Target): Promise<void>;
  /** The primary's readiness now (primaryReadyThreshold), without waiting or throwing when not ready. */
  primaryReadiness(target: Target): Promise<ReadinessReport>;
  /** The canary's and the primary's readiness now, without waiting or throwing when either is not ready. */
  stepReadiness(target: Target): Promise<StepReadiness>;
  /**
   * Returns once the canary is ready (canaryReadyThreshold); throws the non-retryable
   * `DeadlineExceeded` when it misses progressDeadlineSeconds (from `deadlineAtMs` when given),
   * naming the pods' reasons.
   */
  waitCanaryReady(target: Target, options?: WaitReadyOptions): Promise<void>;
  /** Scales the canary to zero, or back to its desired replicas (respecting an autoscaler). */
  scaleCanary(target: Target, to: "zero" | "desired"): Promise<void>;
  getRoutes(target: Target): Promise<Routes>;
  /** A/B testing (spec.strategy) sends requests matching analysis.match to the canary instead of a weight. */
  setRoutes(target: Target, routes: Routes): Promise<void>;
  /** Copies the canary's pod template and tracked configs to the primary. */
  promote(target: Target): Promise<void>;
  /** Calls every webhook of one type; an empty list when there are none. `event` is what an event webhook reports. */
  runWebhooks(
    target: Target,
    type: WebhookType,
    phase: CanaryPhase,
    event?: CanaryEvent,
  ): Promise<WebhookResult[]>;
  runMetrics(target: Target): Promise<MetricResult[]>;
  syncStatus(target: Target, status: StatusUpdate): Promise<void>;
  recordEvent(target: Target, event: CanaryEvent): Promise<void>;
  /** The status, then the Events: one call for everything a step reports. */
  report(target: Target, report: StepReport): Promise<void>;
  alert(target: Target, alert: Alert): Promise<void>;
  /** On deletion: with revert, scales the target back up, restores the apex service and routes. */
  finalize(target: Target, revert: boolean): Promise<void>;
}

/** Error types activities throw that retrying cannot fix; the message says what the user must do. */
export const NON_RETRYABLE_ERRORS = {
  /** The canary missed its progress deadline: roll back. */
  deadlineExceeded: "DeadlineExceeded",
  /** The target workload (or another referenced object) does not exist. */
  targetNotFound: "TargetNotFound",
  /** The Canary spec cannot be acted on (e.g. provider does not support the strategy). */
  invalidSpec: "InvalidSpec",
  /** RBAC forbids the operator an action; the message names the verb, resource and namespace. */
  forbidden: "Forbidden",
} as const;

export const nonRetryableErrorTypes = Object.values(NON_RETRYABLE_ERRORS);

/** Retries with backoff until the activity's schedule-to-close timeout. */
const retry = (): ActivityOptions["retry"] => ({
  initialInterval: "200ms",
  backoffCoefficient: 2,
  maximumInterval: "10s",
  nonRetryableErrorTypes,
});

/**
 * Timeouts and retries per activity. Every activity is bounded in time, never by a small attempt
 * count, so a few worker restarts during a call cost a retry and not a rollback. Cluster writes
 * ride out a flapping API server for two minutes; after that the workflow keeps the effect queued
 * and tries again at the next interval. Analysis calls that still fail are failed checks.
 */
export const activityOptions = {
  /** Effects on the cluster: quick, retried for a while, then retried by the workflow. */
  cluster: { startToCloseTimeout: "30s", scheduleToCloseTimeout: "2m", retry: retry() },
  /** Readiness waits are long (bounded by the progress deadline); heartbeats make a lost worker visible within seconds. */
  readiness: { startToCloseTimeout: "1h", heartbeatTimeout: "10s", retry: retry() },
  /** Metrics and webhooks carry their own timeouts; the activity bounds them all. */
  analysis: {
    startToCloseTimeout: "5m",
    scheduleToCloseTimeout: "10m",
    heartbeatTimeout: "30s",
    retry: retry(),
  },
  /** Status, events and alerts must never hold a rollout back for long. */
  report: { startToCloseTimeout: "15s", scheduleToCloseTimeout: "1m", retry: retry() },
} as const satisfies Record<string, ActivityOptions>;

/**
 * The same bounds for the short calls of an ordinary step, run as local activities: they run in
 * the workflow task that decided them, so a step costs one task and no activity events. They
 * cannot heartbeat; a worker that dies mid-call loses the task, and the next worker runs the step
 * again (every activity is idempotent).
 */
export const localActivityOptions = {
  cluster: { startToCloseTimeout: "30s", scheduleToCloseTimeout: "2m", retry: retry() },
  analysis: { startToCloseTimeout: "5m", scheduleToCloseTimeout: "10m", retry: retry() },
  report: { startToCloseTimeout: "15s", scheduleToCloseTimeout: "1m", retry: retry() },
} as const satisfies Record<string, LocalActivityOptions>;
