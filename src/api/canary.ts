/**
 * The `flagger.app/v1beta1` resources durable-canary reads: Canary (spec and status),
 * MetricTemplate and AlertProvider. Field names and meanings follow Flagger's API so existing
 * manifests keep working; the few durable-canary extensions are marked as such.
 *
 * Objects with a fixed shape drop unknown keys; routing objects handed through to a mesh
 * (trafficPolicy, retries, corsPolicy, match, ...) keep every key, since the router owns them.
 */
import { z } from "zod";
import { DurationError, formatDuration, parseDuration } from "./duration.ts";

export const API_GROUP = "flagger.app";
export const API_VERSION = "flagger.app/v1beta1";

export const CANARY_PHASES = [
  "Initializing",
  "Initialized",
  "Waiting",
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
  "Succeeded",
  "Failed",
  "Terminating",
  "Terminated",
] as const;
export type CanaryPhase = (typeof CANARY_PHASES)[number];

export const TARGET_KINDS = ["Deployment", "DaemonSet"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const AUTOSCALER_KINDS = ["HorizontalPodAutoscaler", "ScaledObject"] as const;

/** Traffic providers, as Flagger names them. */
export const PROVIDERS = [
  "apisix",
  "appmesh",
  "appmesh:v1beta2",
  "contour",
  "gatewayapi:v1",
  "gatewayapi:v1beta1",
  "gloo",
  "istio",
  "knative",
  "kubernetes",
  "kuma",
  "linkerd",
  "nginx",
  "osm",
  "skipper",
  "smi:v1alpha1",
  "smi:v1alpha2",
  "smi:v1alpha3",
  "traefik",
] as const;
export type Provider = (typeof PROVIDERS)[number];

export const WEBHOOK_TYPES = [
  "confirm-rollout",
  "pre-rollout",
  "rollout",
  "confirm-traffic-increase",
  "confirm-promotion",
  "post-rollout",
  "rollback",
  "event",
] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Webhook types that hold the rollout until they answer 2xx (or an operator approves). */
export const GATE_TYPES = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"] as const;
export type GateType = (typeof GATE_TYPES)[number];

export const ALERT_SEVERITIES = ["info", "warn", "error"] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** Metrics every provider answers without a MetricTemplate. */
export const BUILTIN_METRICS = ["request-success-rate", "request-duration"] as const;
export type BuiltinMetric = (typeof BUILTIN_METRICS)[number];

export const METRIC_PROVIDER_TYPES = [
  "prometheus",
  "influxdb",
  "datadog",
  "externalmetrics",
  "stackdriver",
  "cloudwatch",
  "newrelic",
  "graphite",
  "dynatrace",
  "keptn",
  "splunk",
] as const;

export const ALERT_PROVIDER_TYPES = ["slack", "msteams", "discord", "rocket", "gchat"] as const;

// ---- field builders: every message reads after the field path, e.g. "service.port must be ..." ----

interface IssueInput {
  readonly input?: unknown;
}

/** Zod error option: "is required: <what>" when the field is absent, "must be <what>" otherwise. */
function expect(what: string) {
  return {
    error: (issue: IssueInput) => (issue.input === undefined ? `is required: ${what}` : `must be ${what}`),
  };
}

function integer(min: number, max?: number) {
  const rule = expect(
    max === undefined ? `an integer of at least ${min}` : `an integer between ${min} and ${max}`,
  );
  const atLeast = z.number(rule).int(rule).min(min, rule);
  return max === undefined ? atLeast : atLeast.max(max, rule);
}

const text = z.string(expect("a string"));
const name = z.string(expect("a non-empty name")).min(1, expect("a non-empty name"));
const flag = z.boolean(expect("true or false"));
const stringMap = z.record(z.string(), text, expect("a map of string keys to string values"));
/** Objects owned by a router or mesh: kept whole, not interpreted here. */
const passThrough = z.record(z.string(), z.unknown(), expect("an object"));

/** A Go duration of at least `minMs`; `example` shows the expected form in errors. */
function duration(minMs: number, example: string) {
  return z.string(expect(`a duration such as ${example}`)).superRefine((value, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (error) {
      if (!(error instanceof DurationError)) throw error;
      ctx.addIssue({
        code: "custom",
        message: `must be a duration such as ${example} (${error.problem}; units: ns, us, ms, s, m, h)`,
        input: value,
      });
      return;
    }
    if (ms < minMs) {
      ctx.addIssue({ code: "custom", message: `must be at least ${formatDuration(minMs)}`, input: value });
    }
  });
}

/** Metric windows go into PromQL range selectors, so they must be Prometheus durations. */
const promDuration = z
  .string(expect('a Prometheus duration such as "1m" or "30s"'))
  .regex(/^(\d+(ms|s|m|h|d|w|y))+$/, expect('a Prometheus duration such as "1m" or "30s"'));

const httpUrl = z
  .string(expect('an http(s) URL such as "http://loadtester.test/"'))
  .superRefine((value, ctx) => {
    if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
      ctx.addIssue({
        code: "custom",
        message: 'must be an http(s) URL such as "http://loadtester.test/"',
        input: value,
      });
    }
  });

const dnsLabel = z
  .string(expect("a DNS-1035 label (lowercase letters, digits and '-', starting with a letter)"))
  .regex(
    /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/,
    expect(
      "a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, at most 63 characters)",
    ),
  );

// ---- references ----

const ObjectReferenceSchema = z.object({
  apiVersion: name,
  kind: name,
  name,
});

export const TargetRefSchema = z.object({
  apiVersion: name,
  kind: z.enum(TARGET_KINDS),
  name,
});
export type TargetRef = z.infer<typeof TargetRefSchema>;

export const AutoscalerRefSchema = z.object({
  apiVersion: name,
  kind: z.enum(AUTOSCALER_KINDS),
  name,
  primaryScalerQueries: stringMap.optional(),
  primaryScalerReplicas: z
    .object({ minReplicas: integer(1).optional(), maxReplicas: integer(1).optional() })
    .optional(),
});
export type AutoscalerRef = z.infer<typeof AutoscalerRefSchema>;

/** A reference to another object that may live in another namespace (templates, alert providers). */
export const NamespacedRefSchema = z.object({ name, namespace: z.string(expect("a namespace")).optional() });
export type NamespacedRef = z.infer<typeof NamespacedRefSchema>;

// ---- HTTP match conditions: Istio style and Gateway API style ----

const stringMatchRule = expect("an object with at most one of exact, prefix, suffix or regex");
/** Istio StringMatch. */
export const StringMatchSchema = z
  .looseObject(
    {
      exact: text.optional(),
      prefix: text.optional(),
      suffix: text.optional(),
      regex: text.optional(),
    },
    stringMatchRule,
  )
  .refine(
    (match) =>
      [match.exact, match.prefix, match.suffix, match.regex].filter((v) => v !== undefined).length <= 1,
    stringMatchRule,
  );

/** Gateway API header or query parameter match. */
const NamedValueMatchSchema = z.looseObject({
  name,
  value: text,
  type: z.enum(["Exact", "RegularExpression"]).optional(),
});

const namedMatches = z.union(
  [z.record(z.string(), StringMatchSchema), z.array(NamedValueMatchSchema)],
  expect(
    "a map of name to {exact|prefix|suffix|regex} (Istio style) or a list of {name, value, type} (Gateway API style)",
  ),
);

/** One HTTP match condition; `headers` and `queryParams` take the Istio map or the Gateway API list. */
export const HttpMatchSchema = z.looseObject({
  name: text.optional(),
  uri: StringMatchSchema.optional(),
  scheme: StringMatchSchema.optional(),
  method: z.union([text, StringMatchSchema], expect("an HTTP method or a string match")).optional(),
  authority: StringMatchSchema.optional(),
  headers: namedMatches.optional(),
  queryParams: namedMatches.optional(),
  withoutHeaders: z.record(z.string(), StringMatchSchema).optional(),
  sourceLabels: stringMap.optional(),
  sourceNamespace: text.optional(),
  gateways: z.array(text).optional(),
  port: integer(1, 65535).optional(),
  ignoreUriCase: flag.optional(),
  path: z
    .looseObject({
      type: z.enum(["Exact", "PathPrefix", "RegularExpression"]).optional(),
      value: text.optional(),
    })
    .optional(),
});
export type HttpMatch = z.infer<typeof HttpMatchSchema>;

// ---- service ----

const CustomMetadataSchema = z.object({ labels: stringMap.optional(), annotations: stringMap.optional() });
export type CustomMetadata = z.infer<typeof CustomMetadataSchema>;

/** Gateway API ParentReference. */
const GatewayRefSchema = z.looseObject({
  name,
  namespace: text.optional(),
  group: text.optional(),
  kind: text.optional(),
  sectionName: text.optional(),
  port: integer(1, 65535).optional(),
});

export const CanaryServiceSchema = z.object({
  /** Apex service name; defaults to targetRef.name. `-primary` and `-canary` services derive from it. */
  name: dnsLabel.optional(),
  port: integer(1, 65535),
  portName: text.optional(),
  targetPort: z
    .union([integer(1, 65535), name], expect("a port number (1-65535) or a container port name"))
    .optional(),
  appProtocol: text.optional(),
  trafficDistribution: text.optional(),
  portDiscovery: flag.optional(),
  headless: flag.optional(),
  timeout: duration(1, '"30s"').optional(),
  backendTimeout: duration(1, '"30s"').optional(),
  gateways: z.array(text).optional(),
  gatewayRefs: z.array(GatewayRefSchema).optional(),
  hosts: z.array(text).optional(),
  delegation: flag.optional(),
  match: z.array(HttpMatchSchema).optional(),
  rewrite: z
    .looseObject({ uri: text.optional(), authority: text.optional(), type: text.optional() })
    .optional(),
  retries: passThrough.optional(),
  headers: passThrough.optional(),
  corsPolicy: passThrough.optional(),
  trafficPolicy: passThrough.optional(),
  mirror: z.array(passThrough).optional(),
  meshName: text.optional(),
  backends: z.array(text).optional(),
  apex: CustomMetadataSchema.optional(),
  primary: CustomMetadataSchema.optional(),
  canary: CustomMetadataSchema.optional(),
  unmanagedMetadata: z
    .object({ annotations: z.array(text).optional(), labels: z.array(text).optional() })
    .optional(),
});
export type CanaryService = z.infer<typeof CanaryServiceSchema>;

// ---- analysis ----

export const ThresholdRangeSchema = z.object({ min: z.number().optional(), max: z.number().optional() });
export type ThresholdRange = z.infer<typeof ThresholdRangeSchema>;

export const CanaryMetricSchema = z.object({
  /** A builtin metric name (request-success-rate, request-duration) or any name with a templateRef. */
  name,
  interval: promDuration.optional(),
  /** @deprecated Flagger's single threshold: a minimum for request-success-rate, a maximum otherwise. */
  threshold: z.number(expect("a number")).optional(),
  thresholdRange: ThresholdRangeSchema.optional(),
  /** @deprecated Flagger's inline Prometheus query; use templateRef. */
  query: text.optional(),
  templateRef: NamespacedRefSchema.optional(),
  templateVariables: stringMap.optional(),
});
export type CanaryMetric = z.infer<typeof CanaryMetricSchema>;

export const CanaryWebhookSchema = z.object({
  name,
  /** Empty or absent means `rollout`, as in Flagger. */
  type: z.enum([...WEBHOOK_TYPES, ""], expect(`one of ${WEBHOOK_TYPES.join(", ")}`)).optional(),
  url: httpUrl,
  timeout: duration(1, '"10s"').optional(),
  retries: integer(0).optional(),
  disableTLS: flag.optional(),
  muteAlert: flag.optional(),
  metadata: stringMap.optional(),
  /**
   * durable-canary extension, gate webhooks only (confirm-rollout, confirm-traffic-increase,
   * confirm-promotion): how long the gate may stay closed before the rollout is rolled back.
   * Overrides `analysis.gateTimeout` for this webhook's gate; when several webhooks of one
   * gate set it, the shortest applies.
   */
  gateTimeout: duration(1, '"30m"').optional(),
});
export type CanaryWebhook = z.infer<typeof CanaryWebhookSchema>;

export const CanaryAlertSchema = z.object({
  name,
  /** Empty or absent means `info`, as in Flagger. */
  severity: z.enum([...ALERT_SEVERITIES, ""], expect("one of info, warn, error")).optional(),
  providerRef: NamespacedRefSchema,
});
export type CanaryAlert = z.infer<typeof CanaryAlertSchema>;

export const SessionAffinitySchema = z.object({
  cookieName: name,
  primaryCookieName: text.optional(),
  domain: text.optional(),
  httpOnly: flag.optional(),
  maxAge: integer(1).optional(),
  partitioned: flag.optional(),
  path: text.optional(),
  sameSite: z.enum(["Strict", "Lax", "None"]).optional(),
  secure: flag.optional(),
});
export type SessionAffinity = z.infer<typeof SessionAffinitySchema>;

export const CanaryAnalysisSchema = z.object({
  /** Time between analysis steps; Go duration, at least 100ms (Flagger's floor is 10s). */
  interval: duration(100, '"1m" or "30s"').optional(),
  /** Number of analysis runs for blue/green and A/B testing. */
  iterations: integer(1).optional(),
  /** Mirror traffic to the canary (blue/green throughout, canary for one step). */
  mirror: flag.optional(),
  mirrorWeight: integer(0, 100).optional(),
  maxWeight: integer(1, 100).optional(),
  stepWeight: integer(1, 100).optional(),
  stepWeights: z.array(integer(1, 100)).min(1, expect("a non-empty list of weights")).optional(),
  stepWeightPromotion: integer(1, 100).optional(),
  /** Failed checks tolerated before rollback. */
  threshold: integer(1).optional(),
  primaryReadyThreshold: integer(0, 100).optional(),
  canaryReadyThreshold: integer(0, 100).optional(),
  alerts: z.array(CanaryAlertSchema).optional(),
  metrics: z.array(CanaryMetricSchema).optional(),
  webhooks: z.array(CanaryWebhookSchema).optional(),
  /** A/B testing conditions; with `iterations` they select the A/B strategy. */
  match: z.array(HttpMatchSchema).optional(),
  sessionAffinity: SessionAffinitySchema.optional(),
  /**
   * durable-canary extension: how long any gate (confirm-rollout, confirm-traffic-increase,
   * confirm-promotion) may stay closed before the rollout is rolled back. Unset means gates wait
   * forever, as in Flagger. A gate webhook's own `gateTimeout` overrides it.
   */
  gateTimeout: duration(1, '"30m"').optional(),
});
export type CanaryAnalysis = z.infer<typeof CanaryAnalysisSchema>;

// ---- Canary ----

export const CanarySpecSchema = z.object(
  {
    /** Overrides the operator's default traffic provider for this canary. */
    provider: z.enum(PROVIDERS).optional(),
    metricsServer: text.optional(),
    targetRef: TargetRefSchema,
    autoscalerRef: AutoscalerRefSchema.optional(),
    ingressRef: ObjectReferenceSchema.optional(),
    routeRef: ObjectReferenceSchema.optional(),
    upstreamRef: ObjectReferenceSchema.extend({ namespace: text.optional() }).optional(),
    service: CanaryServiceSchema,
    analysis: CanaryAnalysisSchema.optional(),
    /** @deprecated Flagger's old name for `analysis`, read when `analysis` is absent. */
    canaryAnalysis: CanaryAnalysisSchema.optional(),
    /** Seconds the canary may take to become ready before it is rolled back. */
    progressDeadlineSeconds: integer(1).optional(),
    /** Promote without analysis (the canary must still become ready). */
    skipAnalysis: flag.optional(),
    /** On deletion, give the target back its traffic and replicas. */
    revertOnDeletion: flag.optional(),
    /** Freeze the canary: no new rollout starts and a running one holds where it is. */
    suspend: flag.optional(),
  },
  expect("an object"),
);
export type CanarySpec = z.infer<typeof CanarySpecSchema>;

export const CanaryConditionSchema = z.object({
  /** Flagger's only condition type, read by `kubectl wait --for=condition=promoted`. */
  type: z.literal("Promoted"),
  status: z.enum(["True", "False", "Unknown"]),
  reason: text.optional(),
  message: text.optional(),
  lastUpdateTime: text.optional(),
  lastTransitionTime: text.optional(),
});
export type CanaryCondition = z.infer<typeof CanaryConditionSchema>;

export const CanaryStatusSchema = z.object({
  phase: z.enum(CANARY_PHASES).optional(),
  canaryWeight: integer(0, 100).optional(),
  failedChecks: integer(0).optional(),
  iterations: integer(0).optional(),
  /** Revision (hash of the target's pod template) last applied to the canary. */
  lastAppliedSpec: text.optional(),
  /** Revision last promoted to the primary. */
  lastPromotedSpec: text.optional(),
  /** ConfigMap/Secret name → checksum, for those the target references. */
  trackedConfigs: stringMap.optional(),
  lastTransitionTime: text.optional(),
  conditions: z.array(CanaryConditionSchema).optional(),
  previousSessionAffinityCookie: text.optional(),
  sessionAffinityCookie: text.optional(),
  primarySessionAffinityCookie: text.optional(),
  /**
   * durable-canary extension: each metric of the last analysis with its value, so that every
   * operator replica can export flagger_canary_metric_analysis from the Canary alone.
   */
  lastAnalysis: z
    .array(z.object({ name: text, value: z.number().optional(), verdict: z.enum(["pass", "fail", "error"]) }))
    .optional(),
});
export type CanaryStatus = z.infer<typeof CanaryStatusSchema>;

// ---- MetricTemplate and AlertProvider ----

export const MetricTemplateSpecSchema = z.object(
  {
    provider: z.object({
      type: z.enum(METRIC_PROVIDER_TYPES),
      address: httpUrl.optional(),
      headers: z.record(z.string(), z.array(text)).optional(),
      secretRef: z.object({ name }).optional(),
      region: text.optional(),
      insecureSkipVerify: flag.optional(),
    }),
    /** The query, a Go template over name, namespace, target, service, ingress, route, interval, variables. */
    query: z.string(expect("a non-empty query")).min(1, expect("a non-empty query")),
  },
  expect("an object"),
);
export type MetricTemplateSpec = z.infer<typeof MetricTemplateSpecSchema>;

export const AlertProviderSpecSchema = z.object(
  {
    type: z.enum(ALERT_PROVIDER_TYPES),
    channel: text.optional(),
    username: text.optional(),
    /** Hook URL; or give it in the secret's `address` key through secretRef. */
    address: httpUrl.optional(),
    proxy: httpUrl.optional(),
    secretRef: z.object({ name }).optional(),
  },
  expect("an object"),
);
export type AlertProviderSpec = z.infer<typeof AlertProviderSpecSchema>;
