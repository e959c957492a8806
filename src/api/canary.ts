/**
 * The `flagger.app/v1beta1` resources durable-canary reads: Canary (spec and status),
 * MetricTemplate and AlertProvider. Field names and meanings follow Flagger's API so existing
 * manifests keep working; the few durable-canary extensions are marked as such.
 *
 * Objects with a fixed shape drop unknown keys; routing objects handed through to a mesh
 * (trafficPolicy, retries, corsPolicy, match, ...) keep every key, since the router owns them.
 */
import { z } from "zod";
import { DurationError, formatDuration, parseDuration, parsePrometheusDuration } from "./duration.ts";
import { GATE_TYPES } from "./gates.ts";

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

/** Kinds of target: workloads, and Services (a Knative Service or a Kubernetes one, by apiVersion). */
export const TARGET_KINDS = ["Deployment", "DaemonSet", "Service"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
/** The targets that are workloads: the operator creates a primary copy of them. */
export type WorkloadKind = Exclude<TargetKind, "Service">;
/** A Service target with this API is a Knative Service (provider knative only). */
export const KNATIVE_SERVICE_API_VERSION = "serving.knative.dev/v1";
/** A Service target with this API is a Kubernetes Service: traffic moves between copies of it. */
export const KUBERNETES_SERVICE_API_VERSION = "v1";
/** What a targetRef names: a workload, a Knative Service, or a Kubernetes Service ("Service"). */
export type TargetType = WorkloadKind | "KnativeService" | "Service";

/**
 * A Service target's apiVersion tells Knative's from a Kubernetes one. Like Flagger, anything but
 * Knative's reads as a Kubernetes Service here; validation refuses apiVersions other than these two.
 */
export function targetTypeOf(ref: {
  readonly kind: TargetKind;
  readonly apiVersion?: string | undefined;
}): TargetType {
  if (ref.kind !== "Service") return ref.kind;
  return ref.apiVersion === KNATIVE_SERVICE_API_VERSION ? "KnativeService" : "Service";
}

/** Autoscalers the primary gets a copy of: an autoscaling/v2 HPA, or a KEDA ScaledObject (keda.sh/v1alpha1). */
export const AUTOSCALER_KINDS = ["HorizontalPodAutoscaler", "ScaledObject"] as const;

/** Traffic providers, as Flagger names them: each has a router in activities/routing/registry.ts. */
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

const SECOND_MS = 1000;
const HOUR_MS = 3600 * SECOND_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * Bounds of every value that becomes a timer, a timeout, a Prometheus range, a loop count or a
 * Temporal payload. docs/validation.md gives the reason for each.
 */
export const LIMITS = {
  minIntervalMs: 100,
  maxIntervalMs: DAY_MS,
  minMetricIntervalMs: SECOND_MS,
  maxMetricIntervalMs: DAY_MS,
  maxWebhookTimeoutMs: HOUR_MS,
  maxRouteTimeoutMs: DAY_MS,
  maxGateTimeoutMs: 30 * DAY_MS,
  maxIterations: 1000,
  maxThreshold: 1000,
  maxWebhookRetries: 100,
  maxProgressDeadlineSeconds: 86_400,
  /** RFC 6265bis: user agents cap Max-Age at 400 days. */
  maxCookieAgeSeconds: 400 * 86_400,
  /** Metrics, webhooks, alerts and match conditions of one Canary. */
  maxListItems: 50,
  /** The resolved spec as JSON, which travels in the workflow's messages and history. */
  maxSpecBytes: 128 * 1024,
} as const;

/** Kubernetes name rules (apimachinery's IsDNS1123Subdomain, IsDNS1123Label, IsDNS1035Label). */
export const NAME_RULES = {
  subdomain: { pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, max: 253 },
  label: { pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, max: 63 },
  dns1035: { pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/, max: 63 },
} as const;

/** An HTTP token (RFC 9110): what header names and cookie names (RFC 6265) are made of. */
export const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A CEL rule for the generated CRD, so the API server refuses the value at `kubectl apply`. */
export interface CelRule {
  readonly rule: string;
  readonly message: string;
  readonly messageExpression?: string;
  readonly fieldPath?: string;
}

/** Schema metadata that the CRD generator copies into the structural schema. */
function cel(...rules: CelRule[]) {
  return { "x-kubernetes-validations": rules };
}

/** A CEL list literal of strings. */
function celList(values: readonly string[]): string {
  return `[${values.map((v) => `'${v}'`).join(", ")}]`;
}

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

export { GATE_TYPES, type GateType } from "./gates.ts";

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

/** A Kubernetes object or namespace name; `what` names the rule in errors. */
function kubeName(rule: keyof typeof NAME_RULES) {
  const { pattern, max } = NAME_RULES[rule];
  const what = {
    subdomain:
      "a Kubernetes object name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    label: "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit",
    dns1035:
      "a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
  }[rule];
  return z
    .string(expect(`${what})`))
    .max(max, expect(`at most ${max} characters long`))
    .regex(pattern, expect(`${what}, at most ${max} characters)`));
}

/** A header or cookie name: an HTTP token. */
const token = z
  .string(expect("an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"))
  .max(256, expect("at most 256 characters long"))
  .regex(HTTP_TOKEN, expect("an HTTP token (letters, digits and !#$%&'*+-.^_`|~, no spaces)"));

/** A list with at most LIMITS.maxListItems items. */
function list<T extends z.ZodType>(item: T) {
  return z.array(item).max(LIMITS.maxListItems, expect(`a list of at most ${LIMITS.maxListItems} items`));
}
const flag = z.boolean(expect("true or false"));
const stringMap = z.record(z.string(), text, expect("a map of string keys to string values"));
/** Objects owned by a router or mesh: kept whole, not interpreted here. */
const passThrough = z.record(z.string(), z.unknown(), expect("an object"));

/** The milliseconds of a duration, or the issue that says why it is not one `parse` accepts. */
function durationMs(
  value: string,
  parse: (text: string) => number,
  ctx: z.RefinementCtx,
  message: (problem: string) => string,
): number | undefined {
  try {
    return parse(value);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    ctx.addIssue({ code: "custom", message: message(error.problem), input: value });
    return undefined;
  }
}

function bounds(ms: number, minMs: number, maxMs: number, ctx: z.RefinementCtx, value: string): void {
  if (ms < minMs) {
    ctx.addIssue({ code: "custom", message: `must be at least ${formatDuration(minMs)}`, input: value });
  } else if (ms > maxMs) {
    ctx.addIssue({ code: "custom", message: `must be at most ${formatDuration(maxMs)}`, input: value });
  }
}

/**
 * A Go duration between `minMs` and `maxMs` in whole milliseconds (timers and HTTP timeouts count
 * milliseconds); `example` shows the expected form in errors.
 */
function duration(minMs: number, maxMs: number, example: string) {
  const what = `a duration such as ${example}`;
  return z.string(expect(what)).superRefine((value, ctx) => {
    const ms = durationMs(
      value,
      parseDuration,
      ctx,
      (problem) => `must be ${what} (${problem}; units: ns, us, ms, s, m, h)`,
    );
    if (ms === undefined) return;
    if (!Number.isInteger(ms)) {
      ctx.addIssue({
        code: "custom",
        message: `must be a whole number of milliseconds, such as ${example}: timers and timeouts count milliseconds`,
        input: value,
      });
      return;
    }
    bounds(ms, minMs, maxMs, ctx, value);
  });
}

/** Metric windows go into PromQL range selectors, so they must be Prometheus durations. */
const promDuration = z
  .string(expect('a Prometheus duration such as "1m" or "30s"'))
  .superRefine((value, ctx) => {
    const ms = durationMs(
      value,
      parsePrometheusDuration,
      ctx,
      () =>
        'must be a Prometheus duration such as "1m" or "30s" (whole numbers with units y, w, d, h, m, s or ms, largest first)',
    );
    if (ms !== undefined) bounds(ms, LIMITS.minMetricIntervalMs, LIMITS.maxMetricIntervalMs, ctx, value);
  });

const URL_EXAMPLE = '"http://loadtester.test/"';

/**
 * An absolute http(s) URL with a host. Credentials in it (user:password@) are refused: the HTTP
 * client does not send them, and the address shows in statuses and events.
 */
const httpUrl = z
  .string(expect(`an absolute http(s) URL such as ${URL_EXAMPLE}`))
  .superRefine((value, ctx) => {
    const url = URL.canParse(value) ? new URL(value) : undefined;
    if (url === undefined || !/^https?:$/.test(url.protocol) || url.hostname === "") {
      ctx.addIssue({
        code: "custom",
        message: `must be an absolute http(s) URL such as ${URL_EXAMPLE}`,
        input: value,
      });
    } else if (url.username !== "" || url.password !== "") {
      ctx.addIssue({
        code: "custom",
        message:
          "must not hold credentials (user:password@): they are not sent and would show in statuses and events; remove them and use a Secret (secretRef) where the resource has one",
        input: url.host,
      });
    }
  })
  // Gives the scheme error at `kubectl apply` too; the controller's check above says the rest.
  .meta({ pattern: "^[Hh][Tt][Tt][Pp][Ss]?://" });

// ---- references ----

const ObjectReferenceSchema = z.object({
  apiVersion: name,
  kind: name,
  name,
});

export const TargetRefSchema = z.object({
  apiVersion: name,
  kind: z.enum(TARGET_KINDS),
  name: kubeName("subdomain"),
});
export type TargetRef = z.infer<typeof TargetRefSchema>;

export const AutoscalerRefSchema = z.object({
  apiVersion: name,
  kind: z.enum(AUTOSCALER_KINDS),
  name: kubeName("subdomain"),
  /** ScaledObject only: the primary's trigger queries, by trigger name. */
  primaryScalerQueries: stringMap.optional(),
  primaryScalerReplicas: z
    .object({ minReplicas: integer(1).optional(), maxReplicas: integer(1).optional() })
    .meta(
      cel({
        rule: "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
        message: "minReplicas must not exceed maxReplicas",
      }),
    )
    .optional(),
});
export type AutoscalerRef = z.infer<typeof AutoscalerRefSchema>;

/** A reference to another object that may live in another namespace (templates, alert providers). */
export const NamespacedRefSchema = z.object({
  name: kubeName("subdomain"),
  namespace: kubeName("label").optional(),
});
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
  name: kubeName("dns1035").optional(),
  port: integer(1, 65535),
  portName: text.optional(),
  targetPort: z
    .union([integer(1, 65535), name], expect("a port number (1-65535) or a container port name"))
    .optional(),
  appProtocol: text.optional(),
  trafficDistribution: text.optional(),
  portDiscovery: flag.optional(),
  headless: flag.optional(),
  timeout: duration(1, LIMITS.maxRouteTimeoutMs, '"30s"').optional(),
  backendTimeout: duration(1, LIMITS.maxRouteTimeoutMs, '"30s"').optional(),
  gateways: z.array(text).optional(),
  gatewayRefs: z.array(GatewayRefSchema).optional(),
  hosts: z.array(text).optional(),
  delegation: flag.optional(),
  match: list(HttpMatchSchema).optional(),
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

export const ThresholdRangeSchema = z.object({ min: z.number().optional(), max: z.number().optional() }).meta(
  cel({
    rule: "!has(self.min) || !has(self.max) || self.min <= self.max",
    message: "min must not exceed max: no value could pass",
  }),
);
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

export const CanaryWebhookSchema = z
  .object({
    name,
    /** Empty or absent means `rollout`, as in Flagger. */
    type: z.enum([...WEBHOOK_TYPES, ""], expect(`one of ${WEBHOOK_TYPES.join(", ")}`)).optional(),
    url: httpUrl,
    timeout: duration(1, LIMITS.maxWebhookTimeoutMs, '"10s"').optional(),
    retries: integer(0, LIMITS.maxWebhookRetries).optional(),
    disableTLS: flag.optional(),
    muteAlert: flag.optional(),
    metadata: stringMap.optional(),
    /**
     * durable-canary extension, gate webhooks only (confirm-rollout, confirm-traffic-increase,
     * confirm-promotion): how long the gate may stay closed before the rollout is rolled back.
     * Overrides `analysis.gateTimeout` for this webhook's gate; when several webhooks of one
     * gate set it, the shortest applies.
     */
    gateTimeout: duration(1, LIMITS.maxGateTimeoutMs, '"30m"').optional(),
  })
  .meta(
    cel({
      rule: `!has(self.gateTimeout) || (has(self.type) && self.type in ${celList(GATE_TYPES)})`,
      message: `gateTimeout applies only to gate webhooks (type ${GATE_TYPES.join(", ")}): remove it`,
    }),
  );
export type CanaryWebhook = z.infer<typeof CanaryWebhookSchema>;

export const CanaryAlertSchema = z.object({
  name,
  /** Empty or absent means `info`, as in Flagger. */
  severity: z.enum([...ALERT_SEVERITIES, ""], expect("one of info, warn, error")).optional(),
  providerRef: NamespacedRefSchema,
});
export type CanaryAlert = z.infer<typeof CanaryAlertSchema>;

export const SessionAffinitySchema = z
  .object({
    cookieName: token,
    primaryCookieName: token.optional(),
    domain: z
      .string(expect('a cookie domain such as "example.com"'))
      .regex(
        /^\.?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/,
        expect('a cookie domain such as "example.com" (a host name, no scheme, port or path)'),
      )
      .optional(),
    httpOnly: flag.optional(),
    /** Seconds; 0 means unset (a day), as in Flagger. */
    maxAge: integer(0, LIMITS.maxCookieAgeSeconds).optional(),
    partitioned: flag.optional(),
    path: z
      .string(expect('a cookie path such as "/"'))
      .regex(
        /^\/[!-:<-~]*$/,
        expect('a cookie path such as "/" (starting with /, visible ASCII characters but ";")'),
      )
      .optional(),
    sameSite: z.enum(["Strict", "Lax", "None"]).optional(),
    secure: flag.optional(),
  })
  .meta(
    cel({
      rule: "!has(self.primaryCookieName) || self.primaryCookieName != self.cookieName",
      message: "primaryCookieName must differ from cookieName, or one cookie would send users both ways",
    }),
  );
export type SessionAffinity = z.infer<typeof SessionAffinitySchema>;

export const CanaryAnalysisSchema = z.object({
  /**
   * Time between analysis steps; Go duration. Below LIMITS.minIntervalMs it is raised to that
   * floor with a warning, as Flagger raises anything below its own 10s floor.
   */
  interval: duration(0, LIMITS.maxIntervalMs, '"1m" or "30s"').optional(),
  /** Number of analysis runs for blue/green and A/B testing. 0 means unset, as in Flagger. */
  iterations: integer(0, LIMITS.maxIterations).optional(),
  /** Mirror traffic to the canary (blue/green throughout, canary for one step). */
  mirror: flag.optional(),
  mirrorWeight: integer(0, 100).optional(),
  /** 0 means unset (100), as in Flagger. */
  maxWeight: integer(0, 100).optional(),
  /** 0 means unset, as in Flagger. */
  stepWeight: integer(0, 100).optional(),
  stepWeights: z
    .array(integer(1, 100))
    .min(1, expect("a non-empty list of weights"))
    // Strictly increasing weights of 1 to 100 are at most 100; the bound also prices the CEL rule.
    .max(100, expect("a list of at most 100 weights"))
    .meta(
      cel({
        // Sorted with each weight once is strictly increasing.
        rule: "self.isSorted() && self.all(w, self.exists_one(x, x == w))",
        message: "must be strictly increasing, e.g. [5, 10, 25, 50]",
      }),
    )
    .optional(),
  /** 0 means unset (all traffic back to the primary at once), as in Flagger. */
  stepWeightPromotion: integer(0, 100).optional(),
  /** Failed checks tolerated before rollback; 0 means unset (1), as in Flagger. */
  threshold: integer(0, LIMITS.maxThreshold).optional(),
  primaryReadyThreshold: integer(0, 100).optional(),
  canaryReadyThreshold: integer(0, 100).optional(),
  alerts: list(CanaryAlertSchema).optional(),
  metrics: list(CanaryMetricSchema).optional(),
  webhooks: list(CanaryWebhookSchema).optional(),
  /** A/B testing conditions; with `iterations` they select the A/B strategy. */
  match: list(HttpMatchSchema).optional(),
  sessionAffinity: SessionAffinitySchema.optional(),
  /**
   * durable-canary extension: how long any gate (confirm-rollout, confirm-traffic-increase,
   * confirm-promotion) may stay closed before the rollout is rolled back. Unset means gates wait
   * forever, as in Flagger. A gate webhook's own `gateTimeout` overrides it.
   */
  gateTimeout: duration(1, LIMITS.maxGateTimeoutMs, '"30m"').optional(),
});
// stepWeight beside stepWeights, or above maxWeight, is accepted as Flagger accepts it, with a
// warning saying what runs (src/api/leniency.ts).
export type CanaryAnalysis = z.infer<typeof CanaryAnalysisSchema>;

// ---- Canary ----

/** How to change a field the rollout is built on: the workflow cannot move a live rollout. */
const RECREATE = "delete the Canary and create it again";

/**
 * Rules the API server applies at `kubectl apply`. Those naming `oldSelf` are transition rules: they
 * run on updates only, and keep the fields a live rollout is built on (its target, its Services,
 * its router) from changing under it.
 */
const CANARY_SPEC_RULES: readonly CelRule[] = [
  {
    // A Service's apiVersion tells a Knative Service from a Kubernetes one: another target too.
    rule:
      "self.targetRef.kind == oldSelf.targetRef.kind && self.targetRef.name == oldSelf.targetRef.name && " +
      "(self.targetRef.kind != 'Service' || self.targetRef.apiVersion == oldSelf.targetRef.apiVersion)",
    message: `targetRef cannot change on a live Canary: ${RECREATE} with the new target`,
    fieldPath: ".targetRef",
  },
  {
    // The Services are named after service.name, or targetRef.name when it is unset (or there is no service).
    rule:
      "(has(self.service) && has(self.service.name) ? self.service.name : self.targetRef.name) == " +
      "(has(oldSelf.service) && has(oldSelf.service.name) ? oldSelf.service.name : oldSelf.targetRef.name)",
    message: `service.name cannot change on a live Canary: ${RECREATE} with the new name`,
    fieldPath: ".service",
  },
  {
    // Unset means the operator's default, which the API server does not know: unset stays unset.
    rule: "(has(self.provider) ? self.provider : '') == (has(oldSelf.provider) ? oldSelf.provider : '')",
    message: `provider cannot be set, changed or removed on a live Canary: ${RECREATE} with the new provider`,
    fieldPath: ".provider",
  },
  {
    rule: "!(self.targetRef.kind == 'DaemonSet' && has(self.autoscalerRef))",
    message:
      "autoscalerRef cannot be used with a DaemonSet target (DaemonSets have no replicas to scale): remove autoscalerRef",
    fieldPath: ".autoscalerRef",
  },
];

export const CanarySpecSchema = z
  .object(
    {
      /** Overrides the operator's default traffic provider for this canary. */
      provider: z.enum(PROVIDERS).optional(),
      metricsServer: httpUrl.optional(),
      targetRef: TargetRefSchema,
      autoscalerRef: AutoscalerRefSchema.optional(),
      ingressRef: ObjectReferenceSchema.optional(),
      routeRef: ObjectReferenceSchema.optional(),
      upstreamRef: ObjectReferenceSchema.extend({ namespace: text.optional() }).optional(),
      /** Required except for a Knative Service target, which Knative routes itself (Flagger's CRD does not require it). */
      service: CanaryServiceSchema.optional(),
      /** Absent means promote without analysis, as Flagger's SkipAnalysis reads it (with a warning). */
      analysis: CanaryAnalysisSchema.optional(),
      /** @deprecated Flagger's old name for `analysis`, read when `analysis` is absent. */
      canaryAnalysis: CanaryAnalysisSchema.optional(),
      /** Seconds the canary may take to become ready before it is rolled back. */
      progressDeadlineSeconds: integer(1, LIMITS.maxProgressDeadlineSeconds).optional(),
      /** Promote without analysis (the canary must still become ready). */
      skipAnalysis: flag.optional(),
      /** On deletion, give the target back its traffic and replicas. */
      revertOnDeletion: flag.optional(),
      /** Freeze the canary: no new rollout starts and a running one holds where it is. */
      suspend: flag.optional(),
    },
    expect("an object"),
  )
  .meta(cel(...CANARY_SPEC_RULES));
/** A spec as the schema parses it. */
export type CanarySpecInput = z.infer<typeof CanarySpecSchema>;
/** A spec as validation reads it: service filled in for a Knative target that has none (src/api/leniency.ts). */
export type CanarySpec = Omit<CanarySpecInput, "service"> & { readonly service: CanaryService };

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
  /** "" as Flagger's CRD allows it (Go's zero value), so a status Flagger wrote stays writable. */
  phase: z.enum([...CANARY_PHASES, ""]).optional(),
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
  /**
   * durable-canary extension: the last command given through the `durable-canary.io/command`
   * annotation, and what became of it (docs/commands.md).
   */
  lastCommand: z
    .object({
      /** As written, so an unknown command shows too. */
      name: text,
      by: text,
      reason: text.optional(),
      gate: z.enum(GATE_TYPES).optional(),
      /** The command-id annotation, or one derived from the command: a repeat of it is not sent again. */
      id: text,
      accepted: z.boolean(),
      /** What the workflow answered, or why the command was rejected. */
      message: text,
      at: text,
    })
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
