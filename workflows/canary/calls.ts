/**
 * How the canary workflow calls its activities: the proxies, one call site that picks a local or
 * a regular activity, the analysis calls that turn a failure into failed checks, what an error
 * means for the rollout, and the one-line summaries the Temporal UI shows for each call.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
} from "@temporalio/workflow";
import type { WebhookType } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import {
  activityOptions,
  type CanaryActivityCalls,
  localActivityOptions,
  type MetricResult,
  nonRetryableErrorTypes,
  type Target,
  type TargetMessage,
  type WebhookResult,
} from "../activity-port.ts";
import { type Effect, type Route, truncate } from "../decisions/index.ts";
import type { Run } from "./run.ts";

export const cluster = proxyActivities<CanaryActivityCalls>(activityOptions.cluster);
export const readiness = proxyActivities<CanaryActivityCalls>(activityOptions.readiness);
export const analysis = proxyActivities<CanaryActivityCalls>(activityOptions.analysis);
export const report = proxyActivities<CanaryActivityCalls>(activityOptions.report);
const regular = { cluster, analysis, report };
const local = {
  cluster: proxyLocalActivities<CanaryActivityCalls>(localActivityOptions.cluster),
  analysis: proxyLocalActivities<CanaryActivityCalls>(localActivityOptions.analysis),
  report: proxyLocalActivities<CanaryActivityCalls>(localActivityOptions.report),
};

type Call = keyof CanaryActivityCalls;
type Rest<K extends Call> = CanaryActivityCalls[K] extends (t: TargetMessage, ...rest: infer R) => unknown
  ? R
  : never;

/**
 * Calls a short activity of the given kind: a local one in a lean run, with the whole spec
 * (a local activity's input is not written to history), else a regular one with the digest.
 */
export function call<K extends Call>(
  run: Run,
  kind: keyof typeof local,
  name: K,
  summary: string,
  ...rest: Rest<K>
): ReturnType<CanaryActivityCalls[K]> {
  // The proxies are typed per activity; one generic call site needs the untyped signature.
  type Proxies = Record<Call, { executeWithOptions(options: object, args: unknown[]): unknown }>;
  type Out = ReturnType<CanaryActivityCalls[K]>;
  if (run.lean) {
    const whole: Target = {
      ref: run.ref,
      spec: run.spec as ResolvedCanarySpec,
      revision: run.state.revision,
    };
    const proxies = local[kind] as unknown as Proxies;
    return proxies[name].executeWithOptions({ ...localActivityOptions[kind], summary }, [
      whole,
      ...rest,
    ]) as Out;
  }
  const proxies = regular[kind] as unknown as Proxies;
  return proxies[name].executeWithOptions({ ...activityOptions[kind], summary }, [
    run.target(),
    ...rest,
  ]) as Out;
}

export function webhooks(run: Run, type: WebhookType): Promise<WebhookResult[]> {
  if (!run.spec?.analysis.webhooks.some((w) => w.type === type)) return Promise.resolve([]);
  return call(run, "analysis", "runWebhooks", `${type} webhooks`, type, run.state.phase);
}

/** Answers of a type's webhooks; a call that failed for good is a failed answer per webhook, not a crash. */
export async function answersOrErrors(run: Run, type: WebhookType): Promise<WebhookResult[]> {
  try {
    return await webhooks(run, type);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = describeError(err);
    return (run.spec?.analysis.webhooks ?? [])
      .filter((w) => w.type === type)
      .map((w) => ({ name: w.name, type, verdict: "error", statusCode: undefined, message: reason }));
  }
}

/** The metric checks; when the activity failed for good, every metric is a failed check saying why. */
export async function metricsOrErrors(run: Run): Promise<MetricResult[]> {
  const live = run.spec as ResolvedCanarySpec;
  if (live.analysis.metrics.length === 0) return [];
  try {
    return await call(run, "analysis", "runMetrics", "run metric checks");
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

export function routeSummary(route: Route): string {
  if (route.canaryWeight === 0)
    return route.mirror ? "route 100% to primary, mirror to canary" : "route 100% to primary";
  return `route ${route.canaryWeight}% to canary`;
}

/** Activity summaries are one line in the Temporal UI's timeline. */
export const short = (text: string): string => truncate(text, 100);

export function effectSummary(effect: Effect): string {
  switch (effect.kind) {
    case "setRoutes":
      return routeSummary(effect.route);
    case "scaleCanary":
      return effect.to === "up" ? "scale canary up" : "scale canary to zero";
    case "promote":
      return "promote the canary to primary";
    case "postRolloutHooks":
      return "post-rollout webhooks";
    case "finalize":
      return effect.revert ? "finalize: revert to the target" : "finalize";
    default:
      return effect.kind;
  }
}

/** Retrying cannot help: the error says what the user must fix. */
export function isPermanent(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.nonRetryable) return true;
  const type = errorType(err);
  return type !== undefined && (nonRetryableErrorTypes as readonly string[]).includes(type);
}

export function errorType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

export function describeError(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  if (err instanceof ActivityFailure)
    return `${err.activityType}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return err instanceof Error ? err.message : String(err);
}
