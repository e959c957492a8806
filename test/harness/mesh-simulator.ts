/**
 * TEST CODE ONLY: a stand-in for a service mesh's data plane, which the test world cannot run.
 *
 * For each app a test registers, it reads the routing object the operator manages from the local
 * cluster (Istio VirtualService, Gateway API HTTPRoute, or the apex Service's selector for the
 * kubernetes provider), generates a steady synthetic request stream split the way that object
 * says (weights, A/B matches, mirroring), answers each request from the primary's or the canary's
 * behaviour (error rate, latency distribution) that the test controls, and exposes the counts at
 * /metrics under the names Istio (`istio_requests_total`, `istio_request_duration_milliseconds`)
 * and Envoy-based Gateway API data planes (`envoy_cluster_upstream_rq`,
 * `envoy_cluster_upstream_rq_time`) use, for the test world's Prometheus to scrape.
 *
 * No request is sent anywhere: the stream is counted, not served. Outcomes are spread
 * deterministically (a 10% error rate is exactly every tenth request), so the rates Prometheus
 * computes are exact up to its extrapolation and tests can assert numbers. Everything is bounded:
 * requests per second, the lifetime, and one routing read in flight per app.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { addScrapeTarget, removeScrapeTarget } from "./prometheus.ts";

export interface LatencyShare {
  /** Latency of this share of requests, in milliseconds. */
  readonly ms: number;
  /** Relative weight among the shares. */
  readonly share: number;
}

export interface WorkloadBehaviour {
  /** Fraction of requests answered 500, 0..1. */
  readonly errorRate: number;
  readonly latency: readonly LatencyShare[];
}

export type RouterKind = "virtualservice" | "httproute" | "service";

export interface MeshApp {
  readonly namespace: string;
  /** The apex service; the routing object has its name, and `<service>-primary`/`-canary` are the backends. */
  readonly service: string;
  /** The target workload, which is the canary; the primary workload is `<target>-primary`. */
  readonly target: string;
  readonly router: RouterKind;
  /** Service port, part of the Envoy cluster names. Default 80. */
  readonly port?: number;
  /** Requests per second of the synthetic stream. Default 100, at most 2000. */
  readonly rps?: number;
  /** Share of requests that carry what the A/B match conditions look for. Default 0. */
  readonly matchingShare?: number;
  readonly primary?: Partial<WorkloadBehaviour>;
  readonly canary?: Partial<WorkloadBehaviour>;
}

/** How the routing object splits traffic, as last read. */
export interface Split {
  readonly primaryWeight: number;
  readonly canaryWeight: number;
  /** Requests that match the A/B conditions go to the canary. */
  readonly abToCanary: boolean;
  /** Percent of primary-bound requests copied to the canary. */
  readonly mirrorPercent: number;
  /** Why the last read failed, if it did (the previous split stays in force). */
  readonly error?: string;
}

export type Side = "primary" | "canary";

export interface AppHandle {
  /** Changes how one side answers from the next request on. */
  set(side: Side, behaviour: Partial<WorkloadBehaviour>): void;
  setMatchingShare(share: number): void;
  split(): Split;
  /** Requests answered so far by each side. */
  served(): Readonly<Record<Side, { readonly requests: number; readonly errors: number }>>;
}

export interface MeshSimulator {
  /** host:port of /metrics. */
  readonly address: string;
  /** The Prometheus job it is scraped as, when registered. */
  readonly job: string | undefined;
  add(app: MeshApp): AppHandle;
  stop(): Promise<void>;
}

export interface MeshSimulatorOptions {
  readonly kubeconfig: string;
  /** Registers the simulator as a scrape target of the test world's Prometheus. */
  readonly prometheusTargetsDir?: string;
  readonly job?: string;
  /** The simulator stops itself after this long. Default 20 minutes. */
  readonly maxLifetimeMs?: number;
  readonly tickMs?: number;
  readonly routePollMs?: number;
}

const HEALTHY: WorkloadBehaviour = { errorRate: 0, latency: [{ ms: 20, share: 1 }] };
const MAX_RPS = 2000;
/** Istio's and Envoy's default histogram buckets, in milliseconds. */
const BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Counts of one workload: by response code, and a latency histogram by response code. */
class WorkloadStats {
  behaviour: WorkloadBehaviour;
  readonly byCode = new Map<number, { count: number; sumMs: number; buckets: number[] }>();
  private errorCredit = 0;
  private latencyCredit: number[] = [];

  constructor(behaviour: WorkloadBehaviour) {
    this.behaviour = behaviour;
  }

  set(change: Partial<WorkloadBehaviour>): void {
    const next = { ...this.behaviour, ...change };
    if (!(next.errorRate >= 0 && next.errorRate <= 1))
      throw new Error(`errorRate ${next.errorRate}: use 0..1`);
    if (next.latency.length === 0 || next.latency.some((l) => !(l.ms >= 0) || !(l.share > 0))) {
      throw new Error("latency: give at least one {ms >= 0, share > 0}");
    }
    if (change.latency !== undefined) this.latencyCredit = [];
    this.behaviour = next;
  }

  serve(): void {
    this.errorCredit += this.behaviour.errorRate;
    let code = 200;
    if (this.errorCredit >= 1 - 1e-9) {
      this.errorCredit -= 1;
      code = 500;
    }
    const ms = this.nextLatency();
    let entry = this.byCode.get(code);
    if (entry === undefined) {
      entry = { count: 0, sumMs: 0, buckets: BUCKETS_MS.map(() => 0) };
      this.byCode.set(code, entry);
    }
    entry.count++;
    entry.sumMs += ms;
    const bucket = BUCKETS_MS.findIndex((le) => ms <= le);
    if (bucket >= 0) entry.buckets[bucket] = (entry.buckets[bucket] ?? 0) + 1;
  }

  /** Smooth weighted round robin: each latency's share of requests, exactly and evenly spread. */
  private nextLatency(): number {
    const shares = this.behaviour.latency;
    const total = shares.reduce((sum, l) => sum + l.share, 0);
    if (this.latencyCredit.length !== shares.length) this.latencyCredit = shares.map(() => 0);
    let best = 0;
    for (let i = 0; i < shares.length; i++) {
      this.latencyCredit[i] = (this.latencyCredit[i] ?? 0) + (shares[i] as LatencyShare).share;
      if ((this.latencyCredit[i] as number) > (this.latencyCredit[best] as number)) best = i;
    }
    this.latencyCredit[best] = (this.latencyCredit[best] as number) - total;
    return (shares[best] as LatencyShare).ms;
  }

  totals(): { requests: number; errors: number } {
    let requests = 0;
    let errors = 0;
    for (const [code, entry] of this.byCode) {
      requests += entry.count;
      if (code >= 500) errors += entry.count;
    }
    return { requests, errors };
  }
}

interface AppState {
  readonly app: Required<Pick<MeshApp, "namespace" | "service" | "target" | "router" | "port">>;
  rps: number;
  matchingShare: number;
  split: Split;
  readonly stats: Record<Side, WorkloadStats>;
  pending: number;
  credits: { canary: number; match: number; mirror: number };
  reading: boolean;
}

export async function startMeshSimulator(options: MeshSimulatorOptions): Promise<MeshSimulator> {
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const apps: AppState[] = [];
  const tickMs = options.tickMs ?? 100;

  const server: Server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(exposition(apps));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    // A stalled event loop must not turn into a burst: count at most one second at once.
    const elapsedS = Math.min(now - last, 1000) / 1000;
    last = now;
    for (const state of apps) generate(state, elapsedS);
  }, tickMs);
  ticker.unref();

  const poller = setInterval(() => {
    for (const state of apps) {
      if (state.reading) continue;
      state.reading = true;
      readSplit(state, custom, core)
        .then((split) => {
          state.split = split;
        })
        .catch((error: unknown) => {
          state.split = { ...state.split, error: error instanceof Error ? error.message : String(error) };
        })
        .finally(() => {
          state.reading = false;
        });
    }
  }, options.routePollMs ?? 250);
  poller.unref();

  const job = options.prometheusTargetsDir === undefined ? undefined : (options.job ?? `mesh-${process.pid}`);
  if (options.prometheusTargetsDir !== undefined && job !== undefined) {
    addScrapeTarget(options.prometheusTargetsDir, job, [address]);
  }

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      clearInterval(ticker);
      clearInterval(poller);
      clearTimeout(lifetime);
      if (options.prometheusTargetsDir !== undefined && job !== undefined) {
        removeScrapeTarget(options.prometheusTargetsDir, job);
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return stopped;
  };
  const lifetime = setTimeout(() => void stop(), options.maxLifetimeMs ?? 20 * 60_000);
  lifetime.unref();

  return {
    address,
    job,
    stop,
    add(app) {
      const rps = app.rps ?? 100;
      if (!(rps > 0 && rps <= MAX_RPS)) throw new Error(`rps ${rps}: use 0 < rps <= ${MAX_RPS}`);
      const state: AppState = {
        app: { port: 80, ...app },
        rps,
        matchingShare: 0,
        split: { primaryWeight: 100, canaryWeight: 0, abToCanary: false, mirrorPercent: 0 },
        stats: { primary: new WorkloadStats(HEALTHY), canary: new WorkloadStats(HEALTHY) },
        pending: 0,
        credits: { canary: 0, match: 0, mirror: 0 },
        reading: false,
      };
      state.stats.primary.set(app.primary ?? {});
      state.stats.canary.set(app.canary ?? {});
      const handle: AppHandle = {
        set: (side, behaviour) => state.stats[side].set(behaviour),
        setMatchingShare(share) {
          if (!(share >= 0 && share <= 1)) throw new Error(`matchingShare ${share}: use 0..1`);
          state.matchingShare = share;
        },
        split: () => state.split,
        served: () => ({ primary: state.stats.primary.totals(), canary: state.stats.canary.totals() }),
      };
      handle.setMatchingShare(app.matchingShare ?? 0);
      apps.push(state);
      return handle;
    },
  };
}

/** Generates this tick's requests and sends each where the split says. */
function generate(state: AppState, elapsedS: number): void {
  state.pending += state.rps * elapsedS;
  const { split, credits, stats } = state;
  const total = split.primaryWeight + split.canaryWeight;
  while (state.pending >= 1) {
    state.pending -= 1;
    credits.match += state.matchingShare;
    const matching = credits.match >= 1 - 1e-9;
    if (matching) credits.match -= 1;
    let side: Side = "primary";
    if (matching && split.abToCanary) side = "canary";
    else if (total > 0) {
      credits.canary += split.canaryWeight / total;
      if (credits.canary >= 1 - 1e-9) {
        credits.canary -= 1;
        side = "canary";
      }
    }
    stats[side].serve();
    if (side === "primary" && split.mirrorPercent > 0) {
      credits.mirror += split.mirrorPercent / 100;
      if (credits.mirror >= 1 - 1e-9) {
        credits.mirror -= 1;
        stats.canary.serve();
      }
    }
  }
}

// ---- reading the routing objects ----

type Backend = Side | undefined;

function classify(app: AppState["app"], host: unknown): Backend {
  if (typeof host !== "string") return undefined;
  const name = host.split(".")[0];
  if (name === `${app.service}-canary`) return "canary";
  // The apex service selects the primary once the canary is initialized.
  if (name === `${app.service}-primary` || name === app.service) return "primary";
  return undefined;
}

interface Weighted {
  readonly backend: Backend;
  readonly weight: number;
}

function toSplit(weighted: readonly Weighted[], abToCanary: boolean, mirrorPercent: number): Split {
  const sum = (side: Side) =>
    weighted.filter((w) => w.backend === side).reduce((total, w) => total + Math.max(0, w.weight), 0);
  const primary = sum("primary");
  const canary = sum("canary");
  return { primaryWeight: primary, canaryWeight: canary, abToCanary, mirrorPercent };
}

async function readSplit(state: AppState, custom: CustomObjectsApi, core: CoreV1Api): Promise<Split> {
  const { app } = state;
  try {
    if (app.router === "service") {
      const service = await core.readNamespacedService({ namespace: app.namespace, name: app.service });
      const selectsPrimary = Object.values(service.spec?.selector ?? {}).some((v) => v.endsWith("-primary"));
      return selectsPrimary
        ? { primaryWeight: 100, canaryWeight: 0, abToCanary: false, mirrorPercent: 0 }
        : { primaryWeight: 0, canaryWeight: 100, abToCanary: false, mirrorPercent: 0 };
    }
    const [group, plural] =
      app.router === "virtualservice"
        ? ["networking.istio.io", "virtualservices"]
        : ["gateway.networking.k8s.io", "httproutes"];
    const object = (await custom.getNamespacedCustomObject({
      group,
      version: "v1",
      namespace: app.namespace,
      plural,
      name: app.service,
    })) as { spec?: Record<string, unknown> };
    return app.router === "virtualservice"
      ? virtualServiceSplit(app, object.spec ?? {})
      : httpRouteSplit(app, object.spec ?? {});
  } catch (error) {
    // No routing object yet: the apex service sends everything to the primary.
    if (error instanceof ApiException && error.code === 404) {
      return { primaryWeight: 100, canaryWeight: 0, abToCanary: false, mirrorPercent: 0 };
    }
    throw error;
  }
}

interface VirtualServiceHttp {
  readonly match?: readonly unknown[];
  readonly route?: readonly { readonly destination?: { readonly host?: string }; readonly weight?: number }[];
  readonly mirror?: { readonly host?: string };
  readonly mirrorPercentage?: { readonly value?: number };
}

function virtualServiceSplit(app: AppState["app"], spec: Record<string, unknown>): Split {
  const http = (spec.http ?? []) as readonly VirtualServiceHttp[];
  const weighted = (entry: VirtualServiceHttp): Weighted[] => {
    const routes = entry.route ?? [];
    // Istio: a single destination without a weight takes all the traffic.
    return routes.map((r) => ({
      backend: classify(app, r.destination?.host),
      weight: r.weight ?? (routes.length === 1 ? 100 : 0),
    }));
  };
  const abToCanary = http.some(
    (entry) =>
      (entry.match?.length ?? 0) > 0 && weighted(entry).some((w) => w.backend === "canary" && w.weight > 0),
  );
  const fallback = http.find((entry) => (entry.match?.length ?? 0) === 0) ?? http.at(-1) ?? {};
  const mirrorPercent =
    classify(app, fallback.mirror?.host) === "canary" ? (fallback.mirrorPercentage?.value ?? 100) : 0;
  return toSplit(weighted(fallback), abToCanary, mirrorPercent);
}

interface HttpRouteRule {
  readonly matches?: readonly {
    readonly headers?: readonly unknown[];
    readonly queryParams?: readonly unknown[];
  }[];
  readonly backendRefs?: readonly { readonly name?: string; readonly weight?: number }[];
  readonly filters?: readonly {
    readonly type?: string;
    readonly requestMirror?: { readonly backendRef?: { readonly name?: string }; readonly percent?: number };
  }[];
}

function httpRouteSplit(app: AppState["app"], spec: Record<string, unknown>): Split {
  const rules = (spec.rules ?? []) as readonly HttpRouteRule[];
  // Gateway API: a backendRef without a weight has weight 1.
  const weighted = (rule: HttpRouteRule): Weighted[] =>
    (rule.backendRefs ?? []).map((b) => ({ backend: classify(app, b.name), weight: b.weight ?? 1 }));
  const conditional = (rule: HttpRouteRule) =>
    (rule.matches ?? []).some((m) => (m.headers?.length ?? 0) > 0 || (m.queryParams?.length ?? 0) > 0);
  const abToCanary = rules.some(
    (rule) => conditional(rule) && weighted(rule).some((w) => w.backend === "canary" && w.weight > 0),
  );
  const fallback = rules.find((rule) => !conditional(rule)) ?? rules.at(-1) ?? {};
  const mirror = (fallback.filters ?? []).find((f) => f.type === "RequestMirror")?.requestMirror;
  const mirrorPercent = classify(app, mirror?.backendRef?.name) === "canary" ? (mirror?.percent ?? 100) : 0;
  return toSplit(weighted(fallback), abToCanary, mirrorPercent);
}

// ---- /metrics ----

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",")}}`;
}

function exposition(apps: readonly AppState[]): string {
  const requests: string[] = [];
  const durations: string[] = [];
  const upstream: string[] = [];
  const upstreamTime: string[] = [];
  for (const { app, stats } of apps) {
    for (const side of ["primary", "canary"] as const) {
      const workload = side === "canary" ? app.target : `${app.target}-primary`;
      const serviceName = `${app.service}-${side}`;
      const cluster = `${app.namespace}_${serviceName}_${app.port}`;
      const envoyBuckets = BUCKETS_MS.map(() => 0);
      let envoyCount = 0;
      let envoySum = 0;
      for (const [code, entry] of stats[side].byCode) {
        for (const reporter of ["source", "destination"]) {
          const common = {
            reporter,
            source_workload: "loadgen",
            source_workload_namespace: app.namespace,
            destination_workload: workload,
            destination_workload_namespace: app.namespace,
            destination_service: `${serviceName}.${app.namespace}.svc.cluster.local`,
            destination_service_name: serviceName,
            destination_service_namespace: app.namespace,
            request_protocol: "http",
            response_code: String(code),
          };
          requests.push(`istio_requests_total${labels(common)} ${entry.count}`);
          let cumulative = 0;
          BUCKETS_MS.forEach((le, i) => {
            cumulative += entry.buckets[i] ?? 0;
            durations.push(
              `istio_request_duration_milliseconds_bucket${labels({ ...common, le: String(le) })} ${cumulative}`,
            );
          });
          durations.push(
            `istio_request_duration_milliseconds_bucket${labels({ ...common, le: "+Inf" })} ${entry.count}`,
            `istio_request_duration_milliseconds_sum${labels(common)} ${entry.sumMs}`,
            `istio_request_duration_milliseconds_count${labels(common)} ${entry.count}`,
          );
        }
        upstream.push(
          `envoy_cluster_upstream_rq${labels({ envoy_cluster_name: cluster, envoy_response_code: String(code) })} ${entry.count}`,
        );
        entry.buckets.forEach((n, i) => {
          envoyBuckets[i] = (envoyBuckets[i] ?? 0) + n;
        });
        envoyCount += entry.count;
        envoySum += entry.sumMs;
      }
      if (envoyCount > 0) {
        let cumulative = 0;
        BUCKETS_MS.forEach((le, i) => {
          cumulative += envoyBuckets[i] ?? 0;
          upstreamTime.push(
            `envoy_cluster_upstream_rq_time_bucket${labels({ envoy_cluster_name: cluster, le: String(le) })} ${cumulative}`,
          );
        });
        upstreamTime.push(
          `envoy_cluster_upstream_rq_time_bucket${labels({ envoy_cluster_name: cluster, le: "+Inf" })} ${envoyCount}`,
          `envoy_cluster_upstream_rq_time_sum${labels({ envoy_cluster_name: cluster })} ${envoySum}`,
          `envoy_cluster_upstream_rq_time_count${labels({ envoy_cluster_name: cluster })} ${envoyCount}`,
        );
      }
    }
  }
  return [
    "# HELP istio_requests_total Requests, as Istio's proxies report them (simulated).",
    "# TYPE istio_requests_total counter",
    ...requests,
    "# HELP istio_request_duration_milliseconds Request duration, as Istio's proxies report it (simulated).",
    "# TYPE istio_request_duration_milliseconds histogram",
    ...durations,
    "# HELP envoy_cluster_upstream_rq Upstream requests by response code, as Envoy reports them (simulated).",
    "# TYPE envoy_cluster_upstream_rq counter",
    ...upstream,
    "# HELP envoy_cluster_upstream_rq_time Upstream request time, as Envoy reports it (simulated).",
    "# TYPE envoy_cluster_upstream_rq_time histogram",
    ...upstreamTime,
    "",
  ].join("\n");
}
