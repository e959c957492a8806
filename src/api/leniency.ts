/**
 * Flagger's leniency, made explicit. Flagger accepts some manifests and quietly gives them a
 * meaning of its own; durable-canary accepts the same manifests, runs them the way Flagger runs
 * them, and says so in a warning (an Event on the Canary). docs/validation.md lists the rules.
 */
import {
  type CanaryAnalysis,
  type CanaryMetric,
  type CanarySpec,
  type CanarySpecInput,
  KNATIVE_SERVICE_API_VERSION,
  LIMITS,
  type Provider,
} from "./canary.ts";
import { builtinMetric } from "./defaults.ts";
import { formatDuration, parseDuration } from "./duration.ts";

/** Knative Services listen on port 80; no Service is generated for them, so nothing else reads it. */
const KNATIVE_PORT = 80;

/** The fields where Flagger reads 0 as "unset" (Go's zero value), so `stepWeight: 0` means no stepWeight. */
const ZERO_MEANS_UNSET = [
  "iterations",
  "threshold",
  "maxWeight",
  "stepWeight",
  "stepWeightPromotion",
] as const;

export type Normalized =
  | { readonly ok: true; readonly spec: CanarySpec }
  | { readonly ok: false; readonly error: string };

/**
 * The parsed spec as the checks and defaults read it: zeros that mean "unset" removed, and a
 * Knative Service target given its service block when it has none (Flagger's Knative Canaries
 * have none).
 */
export function normalizeSpec(input: CanarySpecInput): Normalized {
  const knative =
    input.targetRef.kind === "Service" && input.targetRef.apiVersion === KNATIVE_SERVICE_API_VERSION;
  if (input.service === undefined && !knative) {
    return {
      ok: false,
      error:
        "service is required: set service.port to the port the apex, primary and canary Services expose (only a Knative Service target may leave service out)",
    };
  }
  const service = input.service ?? { port: KNATIVE_PORT };
  return {
    ok: true,
    spec: {
      ...input,
      service,
      ...(input.analysis === undefined ? {} : { analysis: withoutZeros(input.analysis) }),
      ...(input.canaryAnalysis === undefined ? {} : { canaryAnalysis: withoutZeros(input.canaryAnalysis) }),
    },
  };
}

function withoutZeros(analysis: CanaryAnalysis): CanaryAnalysis {
  const out: Record<string, unknown> = { ...analysis };
  for (const field of ZERO_MEANS_UNSET) if (out[field] === 0) delete out[field];
  const affinity = analysis.sessionAffinity;
  if (affinity?.maxAge === 0) {
    const { maxAge: _unset, ...rest } = affinity;
    out.sessionAffinity = rest;
  }
  return out as CanaryAnalysis;
}

/** The warning for a Canary with no analysis at all, which Flagger promotes without checks. */
export function noAnalysisWarning(spec: CanarySpec): string {
  const override = spec.skipAnalysis === false ? " (skipAnalysis: false has no effect without analysis)" : "";
  return (
    `analysis is not set, so each new revision is promoted as soon as it is ready, without checks or traffic steps, as Flagger does${override}: ` +
    "add analysis with stepWeight, stepWeights or iterations to roll out gradually, or set skipAnalysis: true to keep this on purpose"
  );
}

/**
 * Warnings for combinations Flagger accepts and reinterprets: the strategy fields beside each other,
 * and an analysis interval below the floor.
 */
export function strategyWarnings(analysis: CanaryAnalysis, key: string, provider: Provider): string[] {
  const warnings: string[] = [];
  const { iterations, stepWeight, stepWeights, maxWeight, interval } = analysis;
  const steps = [
    ...(stepWeight === undefined ? [] : [`${key}.stepWeight`]),
    ...(stepWeights === undefined ? [] : [`${key}.stepWeights`]),
  ];
  // The kubernetes provider has its own warning for every weight field (validate.ts).
  if (iterations !== undefined && steps.length > 0 && provider !== "kubernetes") {
    const kind = (analysis.match?.length ?? 0) > 0 ? "A/B testing" : "blue/green";
    warnings.push(
      `${key}.iterations selects ${kind}, so ${steps.join(" and ")} ${steps.length === 1 ? "has" : "have"} no effect, as in Flagger: ` +
        `${iterations} iterations run on the canary without shifting weights; remove ${steps.length === 1 ? steps[0] : "them"}, or remove ${key}.iterations for a progressive canary`,
    );
  } else if (stepWeight !== undefined && stepWeights !== undefined) {
    warnings.push(
      `${key}.stepWeight and ${key}.stepWeights are both set: as in Flagger, the canary advances by stepWeight (${stepWeight}) up to the last of stepWeights (${stepWeights.at(-1)}): keep one`,
    );
  } else if (stepWeight !== undefined && maxWeight !== undefined && maxWeight < stepWeight) {
    warnings.push(
      `${key}.maxWeight (${maxWeight}) is below ${key}.stepWeight (${stepWeight}): the canary goes to ${maxWeight}% in one step and is then promoted (Flagger would route ${stepWeight}% in that step): raise maxWeight or lower stepWeight`,
    );
  }
  if (interval !== undefined && parseDuration(interval) < LIMITS.minIntervalMs) {
    warnings.push(
      `${key}.interval (${interval}) is below the ${formatDuration(LIMITS.minIntervalMs)} minimum and is raised to it, as Flagger raises intervals below its own 10s minimum: set an interval of at least ${formatDuration(LIMITS.minIntervalMs)}`,
    );
  }
  return warnings;
}

/**
 * Flagger checks a metric with no thresholdRange against its `threshold`, which is 0 when absent:
 * request-success-rate then always passes and any other metric fails above 0. An empty
 * thresholdRange passes every value.
 */
export function thresholdWarning(metric: CanaryMetric, at: string): string | undefined {
  const range = metric.thresholdRange;
  if (range !== undefined) {
    return range.min === undefined && range.max === undefined
      ? `${at}.thresholdRange has neither min nor max, so every value passes, as in Flagger: set min and/or max`
      : undefined;
  }
  if (metric.threshold !== undefined) return undefined;
  return builtinMetric(metric.name) === "request-success-rate"
    ? `${at} (${metric.name}) has no thresholdRange, so every value passes (Flagger compares it with a threshold of 0): set thresholdRange.min, e.g. 99`
    : `${at} (${metric.name}) has no thresholdRange, so any value above 0 fails the check (Flagger compares it with a threshold of 0): set thresholdRange.max`;
}

/**
 * Flagger routes an Istio service whose appProtocol is tcp with a TCP route, which carries weights
 * only: the HTTP settings have no effect, and A/B testing sends every connection to the canary.
 */
export function tcpWarnings(
  spec: CanarySpec,
  analysis: CanaryAnalysis,
  key: string,
  provider: Provider,
): string[] {
  if (provider !== "istio" || spec.service.appProtocol?.toLowerCase() !== "tcp") return [];
  const { service } = spec;
  const inert = [
    ...(["timeout", "retries", "rewrite", "headers", "corsPolicy"] as const)
      .filter((field) => service[field] !== undefined)
      .map((field) => `service.${field}`),
    ...(analysis.mirror ? [`${key}.mirror`] : []),
    ...(analysis.sessionAffinity === undefined ? [] : [`${key}.sessionAffinity`]),
  ];
  const warnings =
    inert.length === 0
      ? []
      : [
          `service.appProtocol tcp makes the Istio route a TCP route, as in Flagger, so ${inert.join(", ")} ${inert.length === 1 ? "has" : "have"} no effect: remove ${inert.length === 1 ? "it" : "them"}`,
        ];
  if ((analysis.match?.length ?? 0) > 0 && analysis.iterations !== undefined) {
    warnings.push(
      `${key}.match cannot select connections on a TCP route: as in Flagger, A/B testing sends every connection to the canary during the iterations; use blue/green or a progressive canary`,
    );
  }
  return warnings;
}
