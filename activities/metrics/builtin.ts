/**
 * The builtin metrics, as PromQL over the names each data plane exports:
 * - request-success-rate: percent of the canary's requests not answered 5xx;
 * - request-duration: the canary's p99 latency in milliseconds.
 * Istio reports per destination workload (`istio_requests_total`,
 * `istio_request_duration_milliseconds`). Gateway API implementations built on Envoy (Contour,
 * Envoy Gateway) and the kubernetes provider's Envoy-based ingress report per upstream cluster,
 * named `<namespace>_<service>_<port>` (`envoy_cluster_upstream_rq`,
 * `envoy_cluster_upstream_rq_time`), so the canary is its `-canary` service's cluster.
 */
import type { BuiltinMetric, Provider } from "../../src/api/canary.ts";

export interface BuiltinQueryVariables {
  readonly namespace: string;
  /** targetRef.name: the canary workload. */
  readonly target: string;
  /** The apex service; the canary's is `<service>-canary`. */
  readonly service: string;
  /** Prometheus range, e.g. "1m". */
  readonly interval: string;
}

type DataPlane = "istio" | "envoy";

const DATA_PLANES: Partial<Record<Provider, DataPlane>> = {
  istio: "istio",
  "gatewayapi:v1": "envoy",
  "gatewayapi:v1beta1": "envoy",
  contour: "envoy",
  kubernetes: "envoy",
};

/** How the builtin metric reads in messages: its unit. */
export const BUILTIN_UNITS: Readonly<Record<BuiltinMetric, string>> = {
  "request-success-rate": "%",
  "request-duration": "ms",
};

/** The PromQL for a builtin metric, or undefined when the provider's data plane has no known names. */
export function builtinQuery(
  provider: Provider,
  metric: BuiltinMetric,
  vars: BuiltinQueryVariables,
): string | undefined {
  const plane = DATA_PLANES[provider];
  if (plane === undefined) return undefined;
  const { requests, codeLabel, durationBuckets } = plane === "istio" ? istio(vars) : envoy(vars);
  const window = `[${vars.interval}]`;
  if (metric === "request-success-rate") {
    // `or vector(0)`: a canary that answered nothing but 5xx has no success series, and that is 0%, not "no data".
    const ok = `sum(rate(${requests.name}{${[...requests.labels, `${codeLabel}!~"5.."`].join(",")}}${window}))`;
    const all = `sum(rate(${requests.name}{${requests.labels.join(",")}}${window}))`;
    return `(${ok} or vector(0)) / ${all} * 100`;
  }
  return `histogram_quantile(0.99, sum by (le) (rate(${durationBuckets.name}{${durationBuckets.labels.join(",")}}${window})))`;
}

/** Providers the builtin metrics have queries for. */
export function builtinProviders(): Provider[] {
  return Object.keys(DATA_PLANES) as Provider[];
}

interface Series {
  readonly name: string;
  readonly labels: readonly string[];
}

function istio(vars: BuiltinQueryVariables) {
  const labels = [
    'reporter="destination"',
    `destination_workload_namespace=${quote(vars.namespace)}`,
    `destination_workload=${quote(vars.target)}`,
  ];
  return {
    requests: { name: "istio_requests_total", labels } satisfies Series,
    codeLabel: "response_code",
    durationBuckets: { name: "istio_request_duration_milliseconds_bucket", labels } satisfies Series,
  };
}

function envoy(vars: BuiltinQueryVariables) {
  const cluster = `${escapeRegex(`${vars.namespace}_${vars.service}-canary_`)}[0-9a-zA-Z-]+`;
  const labels = [`envoy_cluster_name=~${quote(cluster)}`];
  return {
    requests: { name: "envoy_cluster_upstream_rq", labels } satisfies Series,
    codeLabel: "envoy_response_code",
    durationBuckets: { name: "envoy_cluster_upstream_rq_time_bucket", labels } satisfies Series,
  };
}

/** A PromQL string literal (double-quoted; JSON's escaping is PromQL's). */
function quote(value: string): string {
  return JSON.stringify(value);
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
