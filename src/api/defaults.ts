/**
 * Flagger's defaults, applied to a parsed Canary spec. The result has every optional knob the
 * rollout needs filled in and durations converted to milliseconds, so the workflow and the
 * activities never re-derive a default.
 */
import type {
  AlertSeverity,
  BuiltinMetric,
  CanaryAnalysis,
  CanaryMetric,
  CanaryService,
  CanarySpec,
  CanaryWebhook,
  HttpMatch,
  NamespacedRef,
  Provider,
  SessionAffinity,
  ThresholdRange,
  WebhookType,
} from "./canary.ts";
import { BUILTIN_METRICS, LIMITS } from "./canary.ts";
import { parseDuration } from "./duration.ts";
import { type Strategy, selectStrategy } from "./strategy.ts";

export const DEFAULTS = {
  /** Flagger's default mesh provider; the operator configuration may choose another. */
  provider: "istio",
  analysisInterval: "1m",
  threshold: 1,
  maxWeight: 100,
  progressDeadlineSeconds: 600,
  primaryReadyThreshold: 100,
  canaryReadyThreshold: 100,
  metricInterval: "1m",
  webhookTimeout: "10s",
  webhookRetries: 0,
  alertSeverity: "info",
  /** What Flagger posts as and to when an AlertProvider names no username or channel. */
  alertUsername: "flagger",
  alertChannel: "general",
  portName: "http",
  /** Flagger runs the kubernetes provider as blue/green with this many iterations when none are set. */
  kubernetesIterations: 10,
} as const satisfies Record<string, string | number>;

export interface ResolvedMetric {
  readonly name: string;
  /** Set for request-success-rate and request-duration, which need no template. */
  readonly builtin: BuiltinMetric | undefined;
  /** Prometheus range, e.g. "1m". */
  readonly interval: string;
  /** The accepted range; the deprecated single `threshold` is folded in here. */
  readonly thresholdRange: ThresholdRange;
  readonly templateRef: NamespacedRef | undefined;
  readonly templateVariables: Readonly<Record<string, string>>;
  readonly query: string | undefined;
}

export interface ResolvedWebhook {
  readonly name: string;
  readonly type: WebhookType;
  readonly url: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly disableTLS: boolean;
  readonly muteAlert: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  /** durable-canary extension: this gate webhook's own gate timeout. */
  readonly gateTimeoutMs: number | undefined;
}

export interface ResolvedAlert {
  readonly name: string;
  readonly severity: AlertSeverity;
  readonly providerRef: NamespacedRef;
}

export interface ResolvedAnalysis {
  readonly intervalMs: number;
  readonly threshold: number;
  /** Where the canary weight stops: the last of stepWeights, else maxWeight, else 100. */
  readonly maxWeight: number;
  readonly stepWeight: number | undefined;
  readonly stepWeights: readonly number[];
  /** Unset means all traffic goes back to the primary in one step. */
  readonly stepWeightPromotion: number | undefined;
  /** 0 for the canary strategy. */
  readonly iterations: number;
  /** Effective mirroring (never for A/B testing or the kubernetes provider). */
  readonly mirror: boolean;
  readonly mirrorWeight: number | undefined;
  readonly match: readonly HttpMatch[];
  readonly primaryReadyThreshold: number;
  readonly canaryReadyThreshold: number;
  readonly metrics: readonly ResolvedMetric[];
  readonly webhooks: readonly ResolvedWebhook[];
  readonly alerts: readonly ResolvedAlert[];
  /** durable-canary extension: default timeout of every gate; unset means gates wait forever. */
  readonly gateTimeoutMs: number | undefined;
  readonly sessionAffinity: SessionAffinity | undefined;
}

export interface ResolvedService extends CanaryService {
  /** Apex service name (service.name, else targetRef.name). */
  readonly name: string;
  readonly portName: string;
  readonly targetPort: number | string;
  readonly portDiscovery: boolean;
  readonly headless: boolean;
}

export interface ResolvedCanarySpec
  extends Omit<
    CanarySpec,
    | "provider"
    | "service"
    | "analysis"
    | "canaryAnalysis"
    | "progressDeadlineSeconds"
    | "skipAnalysis"
    | "revertOnDeletion"
    | "suspend"
  > {
  readonly provider: Provider;
  readonly strategy: Strategy;
  readonly service: ResolvedService;
  readonly analysis: ResolvedAnalysis;
  readonly progressDeadlineSeconds: number;
  readonly skipAnalysis: boolean;
  readonly revertOnDeletion: boolean;
  readonly suspend: boolean;
}

export interface DefaultsOptions {
  /** The operator-wide provider, used when the Canary names none. */
  readonly defaultProvider?: Provider | undefined;
}

/**
 * Fills in Flagger's defaults. Expects a spec that passed the schema (durations parse); use
 * validateCanary to get both checks and defaults.
 */
export function applyDefaults(spec: CanarySpec, options: DefaultsOptions = {}): ResolvedCanarySpec {
  const provider = spec.provider ?? options.defaultProvider ?? DEFAULTS.provider;
  const declared = spec.analysis ?? spec.canaryAnalysis;
  const analysis = resolveAnalysis(declared ?? {}, provider);
  const { analysis: _a, canaryAnalysis: _c, ...rest } = spec;
  return {
    ...rest,
    provider,
    strategy: selectStrategy(analysis, provider),
    service: resolveService(spec),
    analysis,
    progressDeadlineSeconds: spec.progressDeadlineSeconds ?? DEFAULTS.progressDeadlineSeconds,
    // Flagger promotes without analysis when a Canary has none, whatever skipAnalysis says.
    skipAnalysis: declared === undefined || (spec.skipAnalysis ?? false),
    revertOnDeletion: spec.revertOnDeletion ?? false,
    suspend: spec.suspend ?? false,
  };
}

/** The apex, primary and canary Service names of a Canary. */
export function serviceNames(spec: Pick<CanarySpec, "service" | "targetRef">): {
  apex: string;
  primary: string;
  canary: string;
} {
  const apex = spec.service.name ?? spec.targetRef.name;
  return { apex, primary: `${apex}-primary`, canary: `${apex}-canary` };
}

function resolveService(spec: CanarySpec): ResolvedService {
  const { service } = spec;
  return {
    ...service,
    name: serviceNames(spec).apex,
    portName: service.portName ?? DEFAULTS.portName,
    targetPort: service.targetPort ?? service.port,
    portDiscovery: service.portDiscovery ?? false,
    headless: service.headless ?? false,
  };
}

function resolveAnalysis(analysis: CanaryAnalysis, provider: Provider): ResolvedAnalysis {
  const kubernetes = provider === "kubernetes";
  const iterations = analysis.iterations ?? (kubernetes ? DEFAULTS.kubernetesIterations : 0);
  const match = kubernetes ? [] : (analysis.match ?? []);
  const strategy = selectStrategy({ ...analysis, iterations, match }, provider);
  const stepWeights = analysis.stepWeights ?? [];
  const lastStep = stepWeights.at(-1);
  return {
    // Raised to the floor, as Flagger raises intervals below its own (src/api/leniency.ts warns).
    intervalMs: Math.max(LIMITS.minIntervalMs, parseDuration(analysis.interval ?? DEFAULTS.analysisInterval)),
    threshold: analysis.threshold ?? DEFAULTS.threshold,
    maxWeight: lastStep ?? analysis.maxWeight ?? DEFAULTS.maxWeight,
    stepWeight: analysis.stepWeight,
    // With both set, Flagger steps by stepWeight up to the last of stepWeights (the maxWeight above).
    stepWeights: analysis.stepWeight === undefined ? stepWeights : [],
    stepWeightPromotion: analysis.stepWeightPromotion,
    iterations,
    mirror: strategy.mirror,
    mirrorWeight: analysis.mirrorWeight,
    match,
    primaryReadyThreshold: analysis.primaryReadyThreshold ?? DEFAULTS.primaryReadyThreshold,
    canaryReadyThreshold: analysis.canaryReadyThreshold ?? DEFAULTS.canaryReadyThreshold,
    metrics: (analysis.metrics ?? []).map(resolveMetric),
    webhooks: (analysis.webhooks ?? []).map(resolveWebhook),
    alerts: (analysis.alerts ?? []).map((alert) => ({
      name: alert.name,
      severity: alert.severity || DEFAULTS.alertSeverity,
      providerRef: alert.providerRef,
    })),
    gateTimeoutMs: analysis.gateTimeout === undefined ? undefined : parseDuration(analysis.gateTimeout),
    sessionAffinity: analysis.sessionAffinity,
  };
}

export function builtinMetric(name: string): BuiltinMetric | undefined {
  return BUILTIN_METRICS.find((builtin) => builtin === name);
}

function resolveMetric(metric: CanaryMetric): ResolvedMetric {
  const builtin = builtinMetric(metric.name);
  // Flagger's deprecated single threshold is a floor for success rate and a ceiling otherwise;
  // with neither it and no thresholdRange, Flagger compares with 0 (src/api/leniency.ts warns).
  const threshold = metric.threshold ?? 0;
  const fromThreshold: ThresholdRange =
    builtin === "request-success-rate" ? { min: threshold } : { max: threshold };
  return {
    name: metric.name,
    builtin,
    interval: metric.interval ?? DEFAULTS.metricInterval,
    thresholdRange: metric.thresholdRange ?? fromThreshold,
    templateRef: metric.templateRef,
    templateVariables: metric.templateVariables ?? {},
    query: metric.query,
  };
}

/** A webhook with Flagger's defaults (timeout, retries, type "rollout"). */
export function resolveWebhook(webhook: CanaryWebhook): ResolvedWebhook {
  return {
    name: webhook.name,
    type: webhook.type || "rollout",
    url: webhook.url,
    timeoutMs: parseDuration(webhook.timeout ?? DEFAULTS.webhookTimeout),
    retries: webhook.retries ?? DEFAULTS.webhookRetries,
    disableTLS: webhook.disableTLS ?? false,
    muteAlert: webhook.muteAlert ?? false,
    metadata: webhook.metadata ?? {},
    gateTimeoutMs: webhook.gateTimeout === undefined ? undefined : parseDuration(webhook.gateTimeout),
  };
}
