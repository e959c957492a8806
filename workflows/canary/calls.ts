/**
 * How the canary workflow calls its activities: the proxies, what an error means for the
 * rollout, and the one-line summaries the Temporal UI shows for each call.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
} from "@temporalio/workflow";
import {
  activityOptions,
  type CanaryActivityCalls,
  localActivityOptions,
  nonRetryableErrorTypes,
} from "../activity-port.ts";
import { type Effect, type Route, truncate } from "../decisions/index.ts";

export const cluster = proxyActivities<CanaryActivityCalls>(activityOptions.cluster);
export const readiness = proxyActivities<CanaryActivityCalls>(activityOptions.readiness);
export const analysis = proxyActivities<CanaryActivityCalls>(activityOptions.analysis);
export const report = proxyActivities<CanaryActivityCalls>(activityOptions.report);
export const regular = { cluster, analysis, report };
export const local = {
  cluster: proxyLocalActivities<CanaryActivityCalls>(localActivityOptions.cluster),
  analysis: proxyLocalActivities<CanaryActivityCalls>(localActivityOptions.analysis),
  report: proxyLocalActivities<CanaryActivityCalls>(localActivityOptions.report),
};

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
