/**
 * The runMetrics activity: every analysis metric of the canary, queried and judged against its
 * threshold range. A metric that cannot be measured (backend down, bad query, no data, missing
 * template or secret) is a result with verdict "error" and the reason, never an exception: a
 * failed check is an answer the workflow counts, not a crash.
 *
 * Credentials go only where their owner meant: a MetricTemplate's secretRef and headers are sent to
 * the template's own address or, when it has none, to the operator's metrics server, never to the
 * Canary's `metricsServer`, which the Canary's author picks. Every address is checked when used,
 * and every message is redacted.
 */
import type { ResolvedMetric } from "../../src/api/defaults.ts";
import { parsePrometheusDuration } from "../../src/api/duration.ts";
import { validateMetricTemplate } from "../../src/api/validate.ts";
import type { OperatorConfig } from "../../src/config/operator.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { errorMessage } from "../../src/log.ts";
import { checkAddress, DestinationError } from "../../src/net/destination.ts";
import { redact } from "../../src/net/redact.ts";
import type { MetricResult, Target } from "../../workflows/activity-port.ts";
import { HttpFailure } from "../analysis-http.ts";
import { AnalysisResourceError, type AnalysisResources } from "../analysis-resources.ts";
import { BUILTIN_UNITS, builtinQuery } from "./builtin.ts";
import { checkOnline } from "./online.ts";
import { type MetricProvider, MetricQueryError } from "./provider.ts";
import { createMetricProvider } from "./registry.ts";
import { renderTemplate, TemplateError, type TemplateVariables } from "./template.ts";
import { judgeValue } from "./verdict.ts";

export interface MetricsDependencies {
  readonly resources: AnalysisResources;
  readonly config: Pick<
    OperatorConfig,
    "metricsServer" | "metricsQueryTimeoutMs" | "crossNamespaceRefs" | "denyLocalDestinations"
  >;
  /** For providers that read the cluster (keptn, externalmetrics); they fail the check without it. */
  readonly kube?: KubeClient;
}

/** Builds the runMetrics activity over the cluster objects and operator settings it reads. */
export function createRunMetrics(deps: MetricsDependencies): (target: Target) => Promise<MetricResult[]> {
  return async function runMetrics(target) {
    return Promise.all(target.spec.analysis.metrics.map((metric) => measure(metric, target, deps)));
  };
}

interface Plan {
  readonly provider: MetricProvider;
  readonly query: string;
  readonly unit: string;
}

async function measure(
  metric: ResolvedMetric,
  target: Target,
  deps: MetricsDependencies,
): Promise<MetricResult> {
  const base = { name: metric.name, thresholdRange: metric.thresholdRange };
  try {
    const plan = await planQuery(metric, target, deps);
    await checkOnline(plan.provider, target, metric.name);
    const value = await plan.provider.runQuery(plan.query, {
      intervalMs: parsePrometheusDuration(metric.interval),
    });
    return { ...base, value, ...judgeValue(metric.name, value, metric.thresholdRange, plan.unit) };
  } catch (error) {
    // Cancellation must reach Temporal; every other failure is this metric's answer.
    if (error instanceof HttpFailure && error.kind === "cancelled") throw error;
    const known =
      error instanceof MetricQueryError ||
      error instanceof AnalysisResourceError ||
      error instanceof HttpFailure ||
      error instanceof DestinationError;
    const reason = known ? error.message : `unexpected error: ${errorMessage(error)}`;
    return { ...base, value: undefined, verdict: "error", message: redact(`${metric.name}: ${reason}`) };
  }
}

/** An address for a provider, and where it came from (for messages). */
interface Address {
  readonly url: string;
  readonly source: string;
  /**
   * The operator's own setting: its admin chose it, so the deny-local option (which keeps Canary,
   * template and provider authors off the operator's loopback) does not apply to it.
   */
  readonly operators: boolean;
}

/** Whether the deny-local option applies to a request to `address`. */
function denyLocal(address: Address | undefined, deps: MetricsDependencies): boolean {
  return deps.config.denyLocalDestinations && address?.operators !== true;
}

async function planQuery(metric: ResolvedMetric, target: Target, deps: MetricsDependencies): Promise<Plan> {
  const operatorServer: Address = {
    url: deps.config.metricsServer,
    source: "the operator's metrics server (--metrics-server)",
    operators: true,
  };
  const metricsServer: Address =
    target.spec.metricsServer === undefined
      ? operatorServer
      : {
          url: target.spec.metricsServer,
          source: `spec.metricsServer of Canary ${target.ref.namespace}/${target.ref.name}`,
          operators: false,
        };
  const variables: TemplateVariables = {
    name: target.ref.name,
    namespace: target.ref.namespace,
    target: target.spec.targetRef.name,
    service: target.spec.service.name,
    ingress: target.spec.ingressRef?.name,
    route:
      // Knative's series are named after revisions: the canary is the Service's latest.
      target.spec.provider === "knative" && metric.builtin !== undefined
        ? await deps.resources.latestKnativeRevision(target.ref.namespace, target.spec.targetRef.name)
        : target.spec.routeRef?.name,
    interval: metric.interval,
    variables: metric.templateVariables,
  };
  const prometheus = () =>
    createMetricProvider("prometheus", {
      address: checked(metricsServer),
      headers: {},
      insecureSkipVerify: false,
      region: undefined,
      credentials: undefined,
      credentialsSource: "",
      timeoutMs: deps.config.metricsQueryTimeoutMs,
      denyLocal: denyLocal(metricsServer, deps),
    });

  if (metric.templateRef !== undefined) {
    return fromTemplate(metric, target, deps, variables, { metricsServer, operatorServer });
  }
  if (metric.query !== undefined) {
    return { provider: prometheus(), query: render(metric.query, variables, "the metric's query"), unit: "" };
  }
  if (metric.builtin !== undefined) {
    const builtin = builtinQuery(target.spec.provider, metric.builtin, variables);
    if ("missing" in builtin) {
      throw new MetricQueryError(
        "config",
        `the builtin metric for provider ${target.spec.provider} cannot be queried: ${builtin.missing}`,
      );
    }
    return { provider: prometheus(), query: builtin.query, unit: BUILTIN_UNITS[metric.builtin] };
  }
  throw new MetricQueryError(
    "config",
    "not a builtin metric (request-success-rate, request-duration) and it has no templateRef: add a templateRef to a MetricTemplate",
  );
}

function checked(address: Address): string {
  checkAddress(address.url, address.source);
  return address.url;
}

async function fromTemplate(
  metric: ResolvedMetric,
  target: Target,
  deps: MetricsDependencies,
  variables: TemplateVariables,
  servers: { readonly metricsServer: Address; readonly operatorServer: Address },
): Promise<Plan> {
  const ref = metric.templateRef as NonNullable<ResolvedMetric["templateRef"]>;
  const namespace = ref.namespace ?? target.ref.namespace;
  const what = `MetricTemplate ${namespace}/${ref.name}`;
  if (!deps.config.crossNamespaceRefs && namespace !== target.ref.namespace) {
    throw new MetricQueryError(
      "config",
      `templateRef refers to ${what} in another namespace, and this operator forbids references to other namespaces (--no-cross-namespace-refs): use a MetricTemplate in namespace ${target.ref.namespace}`,
    );
  }
  const stored = await deps.resources.metricTemplate(namespace, ref.name);
  if (stored === undefined) throw new MetricQueryError("config", `${what} not found`);
  const validated = validateMetricTemplate(stored);
  if (!validated.ok)
    throw new MetricQueryError("config", `${what} is invalid: ${validated.errors.join("; ")}`);
  const { provider, query } = validated.spec;

  let credentials: Readonly<Record<string, string>> | undefined;
  const secretName = provider.secretRef?.name;
  const credentialsSource = `Secret ${namespace}/${secretName}`;
  if (secretName !== undefined) {
    credentials = await deps.resources.secret(namespace, secretName);
    if (credentials === undefined) {
      throw new MetricQueryError("config", `${credentialsSource} (secretRef of ${what}) not found`);
    }
  }
  const headers = provider.headers ?? {};
  // Flagger's rule: a Prometheus template without an address uses the metrics server. Its
  // credentials and headers, though, never go to an address the Canary's author picked.
  const carriesSecrets = secretName !== undefined || Object.keys(headers).length > 0;
  const address: Address | undefined =
    provider.address !== undefined
      ? { url: provider.address, source: `provider.address of ${what}`, operators: false }
      : provider.type !== "prometheus"
        ? undefined
        : carriesSecrets
          ? servers.operatorServer
          : servers.metricsServer;
  return {
    provider: createMetricProvider(provider.type, {
      address: address === undefined ? undefined : checked(address),
      headers,
      insecureSkipVerify: provider.insecureSkipVerify ?? false,
      region: provider.region,
      credentials,
      credentialsSource,
      timeoutMs: deps.config.metricsQueryTimeoutMs,
      denyLocal: denyLocal(address, deps),
      kube: deps.kube,
    }),
    query: render(query, variables, what),
    unit: "",
  };
}

function render(template: string, variables: TemplateVariables, source: string): string {
  try {
    return renderTemplate(template, variables);
  } catch (error) {
    if (error instanceof TemplateError) throw new MetricQueryError("config", `${source}: ${error.message}`);
    throw error;
  }
}
