/**
 * TEST CODE ONLY: the metric families the simulated data planes export, under the names and
 * labels each provider's own proxy or controller uses, so that the builtin metrics (and
 * MetricTemplates written for those data planes) find the same series they would in a cluster.
 * Every app is exported in every family: a query for another provider simply matches nothing.
 */
import type { RoutedApp, Side } from "./split.ts";

/** Istio's and Envoy's default histogram buckets, in milliseconds. */
export const BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Requests of one response code: how many, their summed latency, and counts per bucket (not cumulative). */
export interface CodeCounts {
  readonly count: number;
  readonly sumMs: number;
  readonly buckets: readonly number[];
}

export interface ExportedApp {
  readonly app: RoutedApp;
  readonly counts: Readonly<Record<Side, ReadonlyMap<number, CodeCounts>>>;
}

type Labels = Record<string, string>;

/** Pod names as a Deployment's ReplicaSet gives them: only the canary's match `<target>-<hash>-<suffix>`. */
export function podName(app: RoutedApp, side: Side): string {
  return side === "canary" ? `${app.target}-7d9c8b6f5-x2k4q` : `${app.target}-primary-6f5d4c3b2-q8w7e`;
}

function render(labels: Labels): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",")}}`;
}

function merged(byCode: ReadonlyMap<number, CodeCounts>): CodeCounts | undefined {
  let total: CodeCounts | undefined;
  for (const entry of byCode.values()) {
    total =
      total === undefined
        ? entry
        : {
            count: total.count + entry.count,
            sumMs: total.sumMs + entry.sumMs,
            buckets: total.buckets.map((n, i) => n + (entry.buckets[i] ?? 0)),
          };
  }
  return total;
}

class Family {
  readonly lines: string[] = [];
  readonly name: string;
  readonly type: "counter" | "histogram";
  readonly help: string;

  constructor(name: string, type: "counter" | "histogram", help: string) {
    this.name = name;
    this.type = type;
    this.help = help;
  }

  counter(labels: Labels, value: number): void {
    this.lines.push(`${this.name}${render(labels)} ${value}`);
  }

  /** A histogram in milliseconds or seconds (the bucket bounds and the sum scale with it). */
  histogram(labels: Labels, counts: CodeCounts, unit: "ms" | "s"): void {
    const scale = unit === "s" ? 1000 : 1;
    let cumulative = 0;
    BUCKETS_MS.forEach((le, i) => {
      cumulative += counts.buckets[i] ?? 0;
      this.lines.push(`${this.name}_bucket${render({ ...labels, le: String(le / scale) })} ${cumulative}`);
    });
    this.lines.push(
      `${this.name}_bucket${render({ ...labels, le: "+Inf" })} ${counts.count}`,
      `${this.name}_sum${render(labels)} ${counts.sumMs / scale}`,
      `${this.name}_count${render(labels)} ${counts.count}`,
    );
  }

  text(): string[] {
    return [
      `# HELP ${this.name} ${this.help} (simulated).`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.lines,
    ];
  }
}

/** Skipper route ids replace every character outside [a-zA-Z0-9] with an underscore. */
function skipperId(value: string): string {
  return value.replace(/[^a-zA-Z0-9]/g, "_");
}

/** The labels naming one side of an app in each data plane. */
function sideLabels(app: RoutedApp, side: Side) {
  const ns = app.namespace;
  const service = `${app.service}-${side}`;
  const workload = side === "canary" ? app.target : `${app.target}-primary`;
  const ingress = app.routingObject ?? app.service;
  // Envoy-based data planes each name the upstream cluster their own way.
  const envoy: Labels[] = [
    { envoy_cluster_name: `${ns}_${service}_${app.port}` }, // Contour, Envoy Gateway
    { envoy_cluster_name: `${ns}-${app.service}-${side}upstream-${app.port}_${ns}` }, // Gloo
    { service: `${service}_${ns}_svc_${app.port}` }, // Kuma
    { kubernetes_namespace: ns, kubernetes_pod_name: podName(app, side) }, // App Mesh's sidecar
  ];
  return {
    istio: {
      source_workload: "loadgen",
      source_workload_namespace: ns,
      destination_workload: workload,
      destination_workload_namespace: ns,
      destination_service: `${service}.${ns}.svc.cluster.local`,
      destination_service_name: service,
      destination_service_namespace: ns,
      request_protocol: "http",
    },
    envoy,
    http: { kubernetes_namespace: ns, kubernetes_pod_name: podName(app, side) },
    // ingress-nginx labels a request that went to the canary backend with that backend.
    nginx: { namespace: ns, ingress, canary: side === "canary" ? `${ns}-${service}-${app.port}` : "" },
    traefik: { service: `${ns}-${service}-${app.port}@kubernetescrd` },
    workload: { namespace: ns, deployment: workload, direction: "inbound" },
    osm: { destination_namespace: ns, destination_kind: "Deployment", destination_name: workload },
    apisix: { route: `${ns}_${ingress}-${app.service}-${side}_1` },
    skipper: {
      route: `kube_${skipperId(ns)}__${skipperId(side === "canary" ? `${ingress}-canary` : ingress)}__app_example_test____${skipperId(service)}`,
    },
  };
}

export function exposition(apps: readonly ExportedApp[]): string {
  const f = {
    istioRequests: new Family("istio_requests_total", "counter", "Requests, as Istio's proxies report them"),
    istioDuration: new Family("istio_request_duration_milliseconds", "histogram", "Istio request duration"),
    envoyRequests: new Family("envoy_cluster_upstream_rq", "counter", "Envoy upstream requests by code"),
    envoyTime: new Family("envoy_cluster_upstream_rq_time", "histogram", "Envoy upstream request time"),
    http: new Family("http_request_duration_seconds", "histogram", "The application's own request duration"),
    nginxRequests: new Family("nginx_ingress_controller_requests", "counter", "ingress-nginx requests"),
    nginxDuration: new Family(
      "nginx_ingress_controller_response_duration_seconds",
      "histogram",
      "ingress-nginx upstream response time",
    ),
    traefik: new Family("traefik_service_request_duration_seconds", "histogram", "Traefik service durations"),
    linkerdResponses: new Family("response_total", "counter", "Linkerd proxy responses"),
    linkerdLatency: new Family("response_latency_ms", "histogram", "Linkerd proxy response latency"),
    osmRequests: new Family("osm_request_total", "counter", "OSM requests"),
    osmDuration: new Family("osm_request_duration_ms", "histogram", "OSM request duration"),
    apisixStatus: new Family("apisix_http_status", "counter", "APISIX responses by code"),
    apisixLatency: new Family("apisix_http_latency", "histogram", "APISIX request latency"),
    skipperResponse: new Family("skipper_response_duration_seconds", "histogram", "Skipper responses"),
    skipperServe: new Family("skipper_serve_route_duration_seconds", "histogram", "Skipper route serving"),
  };
  for (const { app, counts } of apps) {
    for (const side of ["primary", "canary"] as const) {
      const l = sideLabels(app, side);
      const byCode = counts[side];
      for (const [code, entry] of byCode) {
        const status = String(code);
        for (const reporter of ["source", "destination"]) {
          const labels = { reporter, ...l.istio, response_code: status };
          f.istioRequests.counter(labels, entry.count);
          f.istioDuration.histogram(labels, entry, "ms");
        }
        for (const cluster of l.envoy)
          f.envoyRequests.counter({ ...cluster, envoy_response_code: status }, entry.count);
        f.http.histogram({ ...l.http, status }, entry, "s");
        f.nginxRequests.counter({ ...l.nginx, status }, entry.count);
        f.traefik.histogram({ ...l.traefik, code: status, method: "GET", protocol: "http" }, entry, "s");
        f.linkerdResponses.counter(
          { ...l.workload, status_code: status, classification: code >= 500 ? "failure" : "success" },
          entry.count,
        );
        f.osmRequests.counter({ ...l.osm, response_code: status }, entry.count);
        f.apisixStatus.counter({ ...l.apisix, code: status }, entry.count);
        f.skipperResponse.histogram({ ...l.skipper, code: status, method: "GET" }, entry, "s");
      }
      const all = merged(byCode);
      if (all === undefined) continue;
      for (const cluster of l.envoy) f.envoyTime.histogram(cluster, all, "ms");
      f.nginxDuration.histogram(l.nginx, all, "s");
      f.linkerdLatency.histogram(l.workload, all, "ms");
      f.osmDuration.histogram(l.osm, all, "ms");
      f.apisixLatency.histogram({ type: "request", ...l.apisix }, all, "ms");
      f.skipperServe.histogram({ ...l.skipper, method: "GET" }, all, "s");
    }
  }
  return [...Object.values(f).flatMap((family) => family.text()), ""].join("\n");
}
