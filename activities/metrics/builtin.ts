/**
 * The builtin metrics, as PromQL over the series each provider's data plane exports, with the
 * names and labels Flagger's builtin checks use, so a Canary migrated from Flagger finds the
 * same data:
 * - request-success-rate: percent of the canary's requests not answered 5xx;
 * - request-duration: the canary's latency in milliseconds (p99 where the data plane exports a
 *   histogram, the mean where it exports only a sum and a count, as Flagger does).
 * Two deliberate differences from Flagger: a canary that answered nothing but 5xx has no
 * success series, and that is 0% (`or vector(0)`), not "no data"; and where a series is named
 * after a Kubernetes Service, or after a route the router names after it (Traefik, Gloo, Kuma,
 * APISIX), the query uses `service.name`, which is what the data plane labels, where Flagger
 * uses the target's name (the same unless service.name is set). Istio's queries are the ones
 * durable-canary always had.
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
  /** ingressRef.name (nginx, skipper). */
  readonly ingress?: string | undefined;
  /** routeRef.name (apisix); for knative, the Knative Service's latest created revision. */
  readonly route?: string | undefined;
}

export type BuiltinQuery = { readonly query: string } | { readonly missing: string };

interface Selector {
  readonly name: string;
  readonly labels: readonly string[];
}

/** One provider's builtin queries: requests with the label that marks a 5xx, and the duration. */
interface Observer {
  /** The counter of requests (a histogram's +Inf bucket or count where there is no counter). */
  readonly requests: Selector;
  /** The matcher that keeps the non-5xx requests. */
  readonly ok: string;
  readonly duration:
    | { readonly kind: "p99"; readonly buckets: Selector; readonly toMs: number }
    | { readonly kind: "mean"; readonly sum: Selector; readonly count: Selector; readonly toMs: number };
  /** A variable the queries need that this Canary does not give. */
  readonly missing?: string;
}

/** How the builtin metric reads in messages: its unit. */
export const BUILTIN_UNITS: Readonly<Record<BuiltinMetric, string>> = {
  "request-success-rate": "%",
  "request-duration": "ms",
};

const observers: Readonly<Record<Provider, (vars: BuiltinQueryVariables) => Observer>> = {
  istio,
  // Flagger reads Istio's names for the SMI providers, whose data plane it cannot know.
  "smi:v1alpha1": istio,
  "smi:v1alpha2": istio,
  "smi:v1alpha3": istio,
  kubernetes: http,
  "gatewayapi:v1": http,
  "gatewayapi:v1beta1": http,
  contour,
  nginx,
  traefik,
  linkerd,
  gloo,
  apisix,
  kuma,
  osm,
  appmesh,
  "appmesh:v1beta2": appmesh,
  knative,
  skipper,
};

/** The PromQL for a builtin metric, or what the Canary lacks for it. */
export function builtinQuery(
  provider: Provider,
  metric: BuiltinMetric,
  vars: BuiltinQueryVariables,
): BuiltinQuery {
  const observer = observers[provider](vars);
  if (observer.missing !== undefined) return { missing: observer.missing };
  const rate = (s: Selector, extra: readonly string[] = []) =>
    `sum(rate(${s.name}{${[...s.labels, ...extra].join(",")}}[${vars.interval}]))`;
  if (metric === "request-success-rate") {
    // `or vector(0)`: a canary that answered nothing but 5xx has no success series, and that is 0%, not "no data".
    return {
      query: `(${rate(observer.requests, [observer.ok])} or vector(0)) / ${rate(observer.requests)} * 100`,
    };
  }
  const { duration } = observer;
  const scale = duration.toMs === 1 ? "" : ` * ${duration.toMs}`;
  if (duration.kind === "mean") return { query: `${rate(duration.sum)} / ${rate(duration.count)}${scale}` };
  const { name, labels } = duration.buckets;
  return {
    query: `histogram_quantile(0.99, sum(rate(${name}{${labels.join(",")}}[${vars.interval}])) by (le))${scale}`,
  };
}

function istio(vars: BuiltinQueryVariables): Observer {
  const labels = [
    'reporter="destination"',
    `destination_workload_namespace=${quote(vars.namespace)}`,
    `destination_workload=${quote(vars.target)}`,
  ];
  return {
    requests: { name: "istio_requests_total", labels },
    ok: 'response_code!~"5.."',
    duration: {
      kind: "p99",
      buckets: { name: "istio_request_duration_milliseconds_bucket", labels },
      toMs: 1,
    },
  };
}

/** The canary's pods as a Deployment names them (`<target>-<hash>-<suffix>`); the primary's have one more part. */
function canaryPods(vars: BuiltinQueryVariables): string[] {
  return [
    `kubernetes_namespace=${quote(vars.namespace)}`,
    `kubernetes_pod_name=~${quote(`${escapeRegex(vars.target)}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)`)}`,
  ];
}

/** The application's own `http_request_duration_seconds` (kubernetes and Gateway API providers). */
function http(vars: BuiltinQueryVariables): Observer {
  const labels = canaryPods(vars);
  return {
    requests: { name: "http_request_duration_seconds_count", labels },
    ok: 'status!~"5.*"',
    duration: { kind: "p99", buckets: { name: "http_request_duration_seconds_bucket", labels }, toMs: 1000 },
  };
}

/** Envoy's upstream cluster series, selected by the labels naming the canary's cluster. */
function envoy(labels: readonly string[]): Observer {
  return {
    requests: { name: "envoy_cluster_upstream_rq", labels },
    ok: 'envoy_response_code!~"5.*"',
    duration: { kind: "p99", buckets: { name: "envoy_cluster_upstream_rq_time_bucket", labels }, toMs: 1 },
  };
}

/** Contour's clusters are `<namespace>_<service>_<port>`. */
function contour(vars: BuiltinQueryVariables): Observer {
  return envoy([
    `envoy_cluster_name=~${quote(`${escapeRegex(`${vars.namespace}_${vars.service}-canary_`)}[0-9a-zA-Z-]+`)}`,
  ]);
}

/** Gloo's clusters are `<upstream>_<namespace>`, the canary's upstream `<namespace>-<service>-canaryupstream-<port>`. */
function gloo(vars: BuiltinQueryVariables): Observer {
  const upstream = escapeRegex(`${vars.namespace}-${vars.service}-canaryupstream-`);
  return envoy([`envoy_cluster_name=~${quote(`${upstream}[0-9a-zA-Z-]+_[0-9a-zA-Z-]+`)}`]);
}

/** Kuma labels its clusters `service="<service>_<namespace>_svc_<port>"`. */
function kuma(vars: BuiltinQueryVariables): Observer {
  return envoy([
    `service=~${quote(`${escapeRegex(`${vars.service}-canary_${vars.namespace}_svc_`)}[0-9a-zA-Z-]+`)}`,
  ]);
}

/** App Mesh's Envoy sidecars, by the canary's pods. */
function appmesh(vars: BuiltinQueryVariables): Observer {
  return envoy(canaryPods(vars));
}

/** Knative's clusters are `<namespace>/<revision>`: the canary is the latest created revision. */
function knative(vars: BuiltinQueryVariables): Observer {
  const observer = envoy([
    `envoy_cluster_name=~${quote(`${escapeRegex(`${vars.namespace}/${vars.route ?? ""}`)}`)}`,
  ]);
  return vars.route === undefined
    ? { ...observer, missing: "the Knative Service has no latest created revision yet" }
    : observer;
}

/** ingress-nginx labels requests its canary Ingress sent to the canary with `canary="<upstream>"`. */
function nginx(vars: BuiltinQueryVariables): Observer {
  const labels = [`namespace=${quote(vars.namespace)}`, `ingress=${quote(vars.ingress ?? "")}`, 'canary!=""'];
  return {
    requests: { name: "nginx_ingress_controller_requests", labels },
    ok: 'status!~"5.*"',
    duration: {
      kind: "mean",
      sum: { name: "nginx_ingress_controller_response_duration_seconds_sum", labels },
      count: { name: "nginx_ingress_controller_response_duration_seconds_count", labels },
      toMs: 1000,
    },
    ...(vars.ingress === undefined ? { missing: "ingressRef is not set" } : {}),
  };
}

/** Traefik names a Kubernetes Service `<namespace>-<service>-<port>@kubernetescrd`. */
function traefik(vars: BuiltinQueryVariables): Observer {
  const service = `service=~${quote(`${escapeRegex(`${vars.namespace}-${vars.service}-canary-`)}[0-9a-zA-Z-]+@kubernetescrd`)}`;
  return {
    requests: { name: "traefik_service_request_duration_seconds_bucket", labels: [service, 'le="+Inf"'] },
    ok: 'code!~"5.."',
    duration: {
      kind: "p99",
      buckets: { name: "traefik_service_request_duration_seconds_bucket", labels: [service] },
      toMs: 1000,
    },
  };
}

/** Linkerd's proxies report inbound responses per deployment, classified as success or failure. */
function linkerd(vars: BuiltinQueryVariables): Observer {
  const labels = [
    `namespace=${quote(vars.namespace)}`,
    `deployment=~${quote(escapeRegex(vars.target))}`,
    'direction="inbound"',
  ];
  return {
    requests: { name: "response_total", labels },
    ok: 'classification!="failure"',
    duration: { kind: "p99", buckets: { name: "response_latency_ms_bucket", labels }, toMs: 1 },
  };
}

function osm(vars: BuiltinQueryVariables): Observer {
  const labels = [
    `destination_namespace=${quote(vars.namespace)}`,
    'destination_kind="Deployment"',
    `destination_name=${quote(vars.target)}`,
  ];
  return {
    requests: { name: "osm_request_total", labels },
    ok: 'response_code!~"5.*"',
    duration: { kind: "p99", buckets: { name: "osm_request_duration_ms_bucket", labels }, toMs: 1 },
  };
}

/** APISIX names the canary's route `<namespace>_<routeRef>-<service>-canary_<n>` (the router's copy of the user's route). */
function apisix(vars: BuiltinQueryVariables): Observer {
  const route = `route=~${quote(`${escapeRegex(`${vars.namespace}_${vars.route ?? ""}-${vars.service}-canary_`)}.+`)}`;
  return {
    requests: { name: "apisix_http_status", labels: [route] },
    ok: 'code!~"5.."',
    duration: {
      kind: "p99",
      buckets: { name: "apisix_http_latency_bucket", labels: ['type=~"request"', route] },
      toMs: 1,
    },
    ...(vars.route === undefined ? { missing: "routeRef is not set" } : {}),
  };
}

/** Skipper's route ids for the canary Ingress: `kube(ew)?_<namespace>__<ingress>_canary__…__<service>_canary`. */
function skipper(vars: BuiltinQueryVariables): Observer {
  const id = (value: string) => value.replace(/[^a-zA-Z0-9]/g, "_");
  const route = `route=~${quote(`kube(ew)?_${id(vars.namespace)}__${id(vars.ingress ?? "")}_canary__.*__${id(vars.service)}_canary(_[0-9]+)?`)}`;
  return {
    requests: { name: "skipper_response_duration_seconds_bucket", labels: [route, 'le="+Inf"'] },
    ok: 'code!~"5.."',
    duration: {
      kind: "mean",
      sum: { name: "skipper_serve_route_duration_seconds_sum", labels: [route] },
      count: { name: "skipper_serve_route_duration_seconds_count", labels: [route] },
      toMs: 1000,
    },
    ...(vars.ingress === undefined ? { missing: "ingressRef is not set" } : {}),
  };
}

/** A PromQL string literal (double-quoted; JSON's escaping is PromQL's). */
function quote(value: string): string {
  return JSON.stringify(value);
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
