/**
 * Validation of the flagger.app/v1beta1 specs. Every error names the field path and what to
 * change ("analysis.stepWeight must be an integer between 1 and 100, got 0"); warnings name
 * fields that are accepted for Flagger compatibility but have no effect.
 */
import type { z } from "zod";
import {
  type AlertProviderSpec,
  AlertProviderSpecSchema,
  type CanaryAnalysis,
  type CanarySpec,
  CanarySpecSchema,
  GATE_TYPES,
  HTTP_TOKEN,
  type HttpMatch,
  KNATIVE_SERVICE_API_VERSION,
  KUBERNETES_SERVICE_API_VERSION,
  LIMITS,
  type MetricTemplateSpec,
  MetricTemplateSpecSchema,
  NAME_RULES,
  type Provider,
  targetTypeOf,
} from "./canary.ts";
import {
  applyDefaults,
  builtinMetric,
  DEFAULTS,
  type DefaultsOptions,
  type ResolvedCanarySpec,
  serviceNames,
} from "./defaults.ts";
import { parseDuration } from "./duration.ts";
import {
  noAnalysisWarning,
  normalizeSpec,
  strategyWarnings,
  tcpWarnings,
  thresholdWarning,
} from "./leniency.ts";

export type Validation<T> =
  | { readonly ok: true; readonly spec: T; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Validates a Canary `spec` (the object under `.spec`) and, when it is valid, returns it with
 * Flagger's defaults applied.
 */
export function validateCanary(spec: unknown, options: DefaultsOptions = {}): Validation<ResolvedCanarySpec> {
  const parsed = parse(CanarySpecSchema, spec);
  if (!parsed.ok) return parsed;
  const normalized = normalizeSpec(parsed.spec);
  if (!normalized.ok) return { ok: false, errors: [normalized.error] };
  const findings = new Findings();
  checkCanary(normalized.spec, options.defaultProvider, findings);
  if (findings.errors.length > 0) return { ok: false, errors: findings.errors };
  const resolved = applyDefaults(normalized.spec, options);
  const tooLarge = sizeProblem(resolved);
  if (tooLarge !== undefined) return { ok: false, errors: [tooLarge] };
  return { ok: true, spec: resolved, warnings: findings.warnings };
}

/**
 * The resolved spec is the workflow's input and travels in its signals and activity inputs, each
 * copy kept in the history: refuse one that would make payloads and histories heavy.
 */
function sizeProblem(spec: ResolvedCanarySpec): string | undefined {
  const bytes = new TextEncoder().encode(JSON.stringify(spec)).length;
  if (bytes <= LIMITS.maxSpecBytes) return undefined;
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  return (
    `spec is too large: ${kib(bytes)} with defaults applied, more than the ${kib(LIMITS.maxSpecBytes)} a Canary may hold ` +
    "(it travels in the rollout's workflow messages): shorten the largest values, such as webhook metadata, templateVariables or match lists"
  );
}

export function validateMetricTemplate(spec: unknown): Validation<MetricTemplateSpec> {
  return parse(MetricTemplateSpecSchema, spec);
}

export function validateAlertProvider(spec: unknown): Validation<AlertProviderSpec> {
  const parsed = parse(AlertProviderSpecSchema, spec);
  if (parsed.ok && parsed.spec.address === undefined && parsed.spec.secretRef === undefined) {
    return {
      ok: false,
      errors: ["address is required unless secretRef names a Secret holding it: set address or secretRef"],
    };
  }
  return parsed;
}

// ---- schema errors ----

function parse<T>(schema: z.ZodType<T>, input: unknown): Validation<T> {
  const result = schema.safeParse(input, { reportInput: true, error: genericMessage });
  if (result.success) return { ok: true, spec: result.data, warnings: [] };
  return { ok: false, errors: result.error.issues.map(formatIssue) };
}

interface Issue {
  readonly code: string;
  readonly input?: unknown;
  readonly expected?: string;
  readonly values?: readonly unknown[];
}

/** Messages for issues the schema leaves to the default; phrased to follow the field path. */
function genericMessage(issue: Issue): string | undefined {
  if (issue.input === undefined) return "is required";
  if (issue.code === "invalid_type" && issue.expected !== undefined) {
    return `must be ${article(issue.expected)}`;
  }
  if (issue.code === "invalid_value" && issue.values !== undefined) {
    return `must be ${alternatives(issue.values.map(String))}`;
  }
  // Every other issue the schemas can raise carries its own message; keep zod's for the rest.
  return undefined;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const got =
    issue.input === undefined || issue.message.startsWith("is required") ? "" : `, got ${show(issue.input)}`;
  return `${fieldPath(issue.path)} ${issue.message}${got}`;
}

/** ["analysis", "metrics", 0, "name"] → "analysis.metrics[0].name"; the spec itself is "spec". */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === "" ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === "" ? "spec" : out;
}

function show(value: unknown): string {
  // Bare words read best ("got StatefulSet"); quote anything that could pass for a number or be empty.
  if (typeof value === "string") return /^[A-Za-z][\w.:/-]*$/.test(value) ? value : JSON.stringify(value);
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function article(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** A map entry's path: "headers.user", or "headers[\"x-user\"]" for keys that are not identifiers. */
function keyPath(base: string, key: string): string {
  const path = fieldPath([key]);
  return path.startsWith("[") ? `${base}${path}` : `${base}.${path}`;
}

/** ["a"] → "a"; ["a", "b"] → "a or b"; more → "one of a, b, c". */
function alternatives(values: readonly string[]): string {
  if (values.length <= 2) return values.join(" or ");
  return `one of ${values.join(", ")}`;
}

// ---- cross-field checks ----

class Findings {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  error(message: string): void {
    this.errors.push(message);
  }

  warn(message: string): void {
    this.warnings.push(message);
  }
}

function checkCanary(spec: CanarySpec, defaultProvider: Provider | undefined, findings: Findings): void {
  const provider = spec.provider ?? defaultProvider ?? DEFAULTS.provider;
  checkProviderFields(spec, provider, findings);
  const targetType = targetTypeOf(spec.targetRef);
  if (targetType === "Service") checkServiceTarget(spec, provider, findings);
  if (targetType === "KnativeService" || (targetType !== "Service" && provider === "knative")) {
    checkKnativeTarget(spec, provider, findings);
  } else {
    checkNames(spec, findings);
  }
  checkRouteTimeouts(spec, provider, findings);
  checkHeaderNames(spec.service.match, "service.match", findings);
  if (spec.targetRef.kind === "DaemonSet" && spec.autoscalerRef !== undefined) {
    findings.error(
      "autoscalerRef cannot be used with a DaemonSet target (DaemonSets have no replicas to scale): remove autoscalerRef",
    );
  }
  const replicas = spec.autoscalerRef?.primaryScalerReplicas;
  if (
    replicas?.minReplicas !== undefined &&
    replicas.maxReplicas !== undefined &&
    replicas.minReplicas > replicas.maxReplicas
  ) {
    findings.error(
      `autoscalerRef.primaryScalerReplicas.minReplicas (${replicas.minReplicas}) must not exceed maxReplicas (${replicas.maxReplicas})`,
    );
  }

  if (spec.analysis === undefined && spec.canaryAnalysis === undefined) {
    if (spec.skipAnalysis !== true) findings.warn(noAnalysisWarning(spec));
    return;
  }
  if (spec.analysis === undefined) {
    findings.warn("canaryAnalysis is deprecated: rename it to analysis");
  } else if (spec.canaryAnalysis !== undefined) {
    findings.warn("canaryAnalysis is ignored because analysis is set: remove canaryAnalysis");
  }
  const key = spec.analysis === undefined ? "canaryAnalysis" : "analysis";
  const analysis = (spec.analysis ?? spec.canaryAnalysis) as CanaryAnalysis;

  checkStrategyFields(analysis, key, provider, spec.skipAnalysis ?? false, findings);
  for (const warning of strategyWarnings(analysis, key, provider)) findings.warn(warning);
  for (const warning of tcpWarnings(spec, analysis, key, provider)) findings.warn(warning);
  checkMetrics(analysis, key, findings);
  checkWebhooks(analysis, key, findings);
  checkHeaderNames(analysis.match, `${key}.match`, findings);
  const affinity = analysis.sessionAffinity;
  if (affinity?.primaryCookieName !== undefined && affinity.primaryCookieName === affinity.cookieName) {
    findings.error(
      `${key}.sessionAffinity.primaryCookieName must differ from cookieName (${affinity.cookieName}), or one cookie would send users both ways: rename one`,
    );
  }
}

/** Fields only some providers read: accepted as in Flagger, but the author should know. */
const PROVIDER_FIELDS: readonly [string, (spec: CanarySpec) => unknown, readonly string[]][] = [
  ["service.meshName", (spec) => spec.service.meshName, ["appmesh"]],
  ["service.backends", (spec) => spec.service.backends, ["appmesh"]],
  ["upstreamRef", (spec) => spec.upstreamRef, ["gloo"]],
  ["ingressRef", (spec) => spec.ingressRef, ["nginx", "skipper"]],
  ["routeRef", (spec) => spec.routeRef, ["apisix"]],
];

/** What a provider routes from: the user's own object, which its router copies or extends. */
const REQUIRED_REFS: Partial<Record<Provider, [string, (spec: CanarySpec) => unknown, string]>> = {
  nginx: ["ingressRef", (spec) => spec.ingressRef, "the Ingress that routes to the apex Service"],
  skipper: ["ingressRef", (spec) => spec.ingressRef, "the Ingress that routes to the apex Service"],
  apisix: ["routeRef", (spec) => spec.routeRef, "the ApisixRoute that routes to the apex Service"],
};

function checkProviderFields(spec: CanarySpec, provider: Provider, findings: Findings): void {
  for (const [field, read, providers] of PROVIDER_FIELDS) {
    if (read(spec) !== undefined && !providers.some((p) => provider.startsWith(p))) {
      findings.warn(
        `${field} is read by provider ${providers.join(" and ")} only, so it has no effect with provider ${provider}: remove it`,
      );
    }
  }
  const required = REQUIRED_REFS[provider];
  if (required && required[1](spec) === undefined) {
    findings.error(`provider ${provider} needs ${required[0]}: set it to ${required[2]}`);
  }
}

/**
 * A Knative Service is routed by its own revisions (no primary copy, no Services, no scaling):
 * it takes provider knative, and provider knative takes nothing else. Its name gets no `-primary`
 * copies, so only the API server's own rules apply to it.
 */
function checkKnativeTarget(spec: CanarySpec, provider: Provider, findings: Findings): void {
  const { kind } = spec.targetRef;
  if (kind !== "Service") {
    findings.error(
      spec.provider === undefined
        ? `provider is unset and the operator's default provider knative routes Knative Services only, but targetRef is a ${kind}: set provider to one that routes it`
        : `provider knative routes Knative Services only, but targetRef is a ${kind}: point targetRef at a Knative Service (apiVersion ${KNATIVE_SERVICE_API_VERSION}, kind Service), or choose another provider`,
    );
    return;
  }
  if (provider !== "knative") {
    findings.error(
      `targetRef is a Knative Service, which only provider knative routes: set provider to knative (got ${provider})`,
    );
  }
  if (spec.autoscalerRef !== undefined) {
    findings.error(
      "autoscalerRef cannot be used with a Knative Service target (Knative scales its revisions itself): remove autoscalerRef",
    );
  }
}

/** Providers that cannot route a Kubernetes Service target, and why. */
const SERVICE_TARGET_PROVIDERS_REFUSED: Partial<Record<Provider, string>> = {
  kubernetes:
    "it switches the apex Service's selector between workloads, and here the apex is the target itself",
  knative: "it routes Knative Services only",
  appmesh: "its virtual nodes select the target's pods",
  "appmesh:v1beta2": "its virtual nodes select the target's pods",
};

/**
 * A Kubernetes Service (Flagger's service canary) is the apex itself: traffic moves between its
 * `-primary` and `-canary` copies, so a mesh or gateway must route it, its copies are named after
 * it, and nothing behind it is scaled.
 */
function checkServiceTarget(spec: CanarySpec, provider: Provider, findings: Findings): void {
  const { apiVersion, name } = spec.targetRef;
  if (apiVersion !== KUBERNETES_SERVICE_API_VERSION) {
    findings.error(
      `targetRef.apiVersion ${apiVersion} is not a Service API: with kind Service, use ${KUBERNETES_SERVICE_API_VERSION} for a Kubernetes Service (traffic moves between its -primary and -canary copies) or ${KNATIVE_SERVICE_API_VERSION} for a Knative Service (provider knative)`,
    );
  }
  const refused = SERVICE_TARGET_PROVIDERS_REFUSED[provider];
  if (refused !== undefined) {
    findings.error(
      `provider ${provider} cannot route a Kubernetes Service target (${refused}): choose a mesh or gateway provider such as gatewayapi:v1 or istio` +
        (provider === "knative"
          ? `, or set targetRef.apiVersion to ${KNATIVE_SERVICE_API_VERSION} for a Knative Service`
          : ""),
    );
  }
  if (spec.service.name !== undefined && spec.service.name !== name) {
    findings.error(
      `service.name must be unset or ${name} with a Kubernetes Service target: the target is the apex Service, and its -primary and -canary copies are named after it`,
    );
  }
  if (spec.autoscalerRef !== undefined) {
    findings.error(
      "autoscalerRef cannot be used with a Kubernetes Service target (nothing behind the Service is scaled): remove autoscalerRef",
    );
  }
}

/**
 * Names built from the spec, checked after their suffixes: `<service>-primary` and `-canary` are
 * Services (DNS-1035 labels of at most 63 characters), `<target>-primary` and `<autoscaler>-primary`
 * are objects (at most 253 characters).
 */
function checkNames(spec: CanarySpec, findings: Findings): void {
  const names = serviceNames(spec);
  const serviceField = spec.service.name === undefined ? "targetRef.name" : "service.name";
  const fix = spec.service.name === undefined ? "set service.name to" : "use";
  if (spec.service.name === undefined && !NAME_RULES.dns1035.pattern.test(names.apex)) {
    findings.error(
      `targetRef.name ${names.apex} is also the Service name while service.name is unset, and a Service name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter): set service.name`,
    );
  }
  const serviceMax = NAME_RULES.dns1035.max;
  if (names.primary.length > serviceMax) {
    findings.error(
      `${serviceField} is too long: the Service ${names.primary} would have ${names.primary.length} characters, more than the ${serviceMax} a Service name may have: ${fix} a name of at most ${serviceMax - "-primary".length} characters`,
    );
  }
  const objectMax = NAME_RULES.subdomain.max;
  const copies: [string, string, string][] = [
    ["targetRef.name", spec.targetRef.name, spec.targetRef.kind],
    ...(spec.autoscalerRef === undefined
      ? []
      : [
          ["autoscalerRef.name", spec.autoscalerRef.name, spec.autoscalerRef.kind] as [
            string,
            string,
            string,
          ],
        ]),
  ];
  for (const [field, name, kind] of copies) {
    const copy = `${name}-primary`;
    if (copy.length > objectMax) {
      findings.error(
        `${field} is too long: the primary's ${kind} ${name.slice(0, 20)}...-primary would have ${copy.length} characters, more than the ${objectMax} a name may have: use a name of at most ${objectMax - "-primary".length} characters`,
      );
    }
  }
}

/** Gateway API's Duration (GEP-2257): whole numbers of h, m, s or ms, at most four of them. */
const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

/** The Gateway API takes route timeouts in its own duration format, the request's bounding the backend's. */
function checkRouteTimeouts(spec: CanarySpec, provider: Provider, findings: Findings): void {
  if (!provider.startsWith("gatewayapi:")) return;
  const { timeout, backendTimeout } = spec.service;
  for (const [field, value] of [
    ["timeout", timeout],
    ["backendTimeout", backendTimeout],
  ] as const) {
    if (value !== undefined && !GATEWAY_DURATION.test(value)) {
      findings.error(
        `service.${field} must be a Gateway API duration for provider ${provider} (whole numbers with h, m, s or ms, such as "30s" or "1m30s"), got ${JSON.stringify(value)}`,
      );
    }
  }
  if (
    timeout !== undefined &&
    backendTimeout !== undefined &&
    parseDuration(backendTimeout) > parseDuration(timeout)
  ) {
    findings.error(
      `service.backendTimeout (${backendTimeout}) must not exceed service.timeout (${timeout}): the Gateway API refuses a backend timeout longer than the request's`,
    );
  }
}

/** Header names in match conditions go to the router as HTTP header names: each must be a token. */
function checkHeaderNames(matches: readonly HttpMatch[] | undefined, at: string, findings: Findings): void {
  (matches ?? []).forEach((match, i) => {
    for (const field of ["headers", "withoutHeaders"] as const) {
      const headers = match[field];
      const names = Array.isArray(headers)
        ? headers.map((header, j) => [`${at}[${i}].${field}[${j}].name`, header.name] as const)
        : Object.keys(headers ?? {}).map((name) => [keyPath(`${at}[${i}].${field}`, name), name] as const);
      for (const [path, name] of names) {
        if (!HTTP_TOKEN.test(name) || name.length > 256) {
          findings.error(
            `${path} is not a valid HTTP header name (${JSON.stringify(name)}): use letters, digits and !#$%&'*+-.^_\`|~, without spaces or colons, at most 256 characters`,
          );
        }
      }
    }
  });
}

function checkStrategyFields(
  analysis: CanaryAnalysis,
  key: string,
  provider: Provider,
  skipAnalysis: boolean,
  findings: Findings,
): void {
  const { iterations, stepWeight, stepWeights, maxWeight, mirror, mirrorWeight, match } = analysis;
  const hasMatch = (match?.length ?? 0) > 0;

  if (provider === "kubernetes") {
    const inert = [
      ...(stepWeight === undefined ? [] : [`${key}.stepWeight`]),
      ...(stepWeights === undefined ? [] : [`${key}.stepWeights`]),
      ...(maxWeight === undefined ? [] : [`${key}.maxWeight`]),
      ...(hasMatch ? [`${key}.match`] : []),
      ...(mirror ? [`${key}.mirror`] : []),
    ];
    if (inert.length > 0) {
      findings.warn(
        `the kubernetes provider supports blue/green only, so ${inert.join(", ")} ${inert.length === 1 ? "has" : "have"} no effect: remove ${inert.length === 1 ? "it" : "them"} or choose a mesh or ingress provider`,
      );
    }
    if (iterations === undefined) {
      findings.warn(
        `the kubernetes provider supports blue/green only: ${key}.iterations defaults to ${DEFAULTS.kubernetesIterations}; set it explicitly`,
      );
    }
  }

  if (
    iterations === undefined &&
    stepWeight === undefined &&
    stepWeights === undefined &&
    !skipAnalysis &&
    provider !== "kubernetes"
  ) {
    findings.error(
      `${key} needs ${key}.stepWeight or ${key}.stepWeights (canary) or ${key}.iterations (blue/green, A/B testing with ${key}.match)`,
    );
  }

  if (stepWeights !== undefined) {
    if (stepWeights.some((weight, i) => i > 0 && weight <= (stepWeights[i - 1] as number))) {
      findings.error(`${key}.stepWeights must be strictly increasing, got [${stepWeights.join(", ")}]`);
    }
    const last = stepWeights.at(-1);
    if (maxWeight !== undefined && maxWeight !== last && iterations === undefined) {
      findings.warn(
        `${key}.maxWeight (${maxWeight}) is ignored when ${key}.stepWeights is set; the canary stops at the last step (${last}): remove ${key}.maxWeight`,
      );
    }
  }
  if (iterations !== undefined && maxWeight !== undefined && provider !== "kubernetes") {
    findings.warn(
      `${key}.maxWeight has no effect with ${key}.iterations (blue/green, A/B testing): remove it`,
    );
  }

  if (provider !== "kubernetes") {
    if (hasMatch && iterations === undefined) {
      findings.warn(
        `${key}.match only takes effect with ${key}.iterations (A/B testing): set iterations or remove match`,
      );
    }
    if (mirror && hasMatch && iterations !== undefined) {
      findings.warn(`${key}.mirror has no effect with A/B testing (${key}.match): remove it`);
    }
  }
  if (mirrorWeight !== undefined && !mirror) {
    findings.warn(`${key}.mirrorWeight has no effect without ${key}.mirror: true`);
  }
}

function checkMetrics(analysis: CanaryAnalysis, key: string, findings: Findings): void {
  const seen = new Set<string>();
  (analysis.metrics ?? []).forEach((metric, i) => {
    const at = `${key}.metrics[${i}]`;
    if (seen.has(metric.name)) findings.error(`${at}.name must be unique, got ${metric.name} twice`);
    seen.add(metric.name);

    const builtin = builtinMetric(metric.name);
    if (builtin === undefined && metric.templateRef === undefined && metric.query === undefined) {
      findings.error(
        `${at} (${metric.name}) needs a templateRef naming a MetricTemplate, or a builtin name: request-success-rate or request-duration`,
      );
    }
    if (metric.query !== undefined)
      findings.warn(`${at}.query is deprecated: move the query to a MetricTemplate and use templateRef`);
    if (metric.threshold !== undefined) {
      if (metric.thresholdRange === undefined) {
        findings.warn(
          `${at}.threshold is deprecated: use thresholdRange.${builtin === "request-success-rate" ? "min" : "max"}`,
        );
      } else {
        findings.warn(`${at}.threshold is ignored because thresholdRange is set: remove threshold`);
      }
    }
    const range = metric.thresholdRange;
    const lenient = thresholdWarning(metric, at);
    if (lenient !== undefined) findings.warn(lenient);
    if (range?.min !== undefined && range.max !== undefined && range.min > range.max) {
      findings.error(`${at}.thresholdRange.min (${range.min}) must not exceed max (${range.max})`);
    }
  });
}

function checkWebhooks(analysis: CanaryAnalysis, key: string, findings: Findings): void {
  const seen = new Set<string>();
  (analysis.webhooks ?? []).forEach((webhook, i) => {
    const at = `${key}.webhooks[${i}]`;
    const type = webhook.type || "rollout";
    const id = `${type}/${webhook.name}`;
    if (seen.has(id))
      findings.error(`${at}.name must be unique among ${type} webhooks, got ${webhook.name} twice`);
    seen.add(id);
    if (webhook.gateTimeout !== undefined && !(GATE_TYPES as readonly string[]).includes(type)) {
      findings.error(
        `${at}.gateTimeout applies only to gate webhooks (${GATE_TYPES.join(", ")}), not ${type}: remove it`,
      );
    }
  });
}
