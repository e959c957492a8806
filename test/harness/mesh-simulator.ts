/**
 * TEST CODE ONLY: a stand-in for a service mesh's data plane, which the test world cannot run.
 *
 * For each app a test registers, it reads the routing object the operator manages from the local
 * cluster (one reader per kind of object in mesh/readers.ts: Istio VirtualService, Gateway API
 * HTTPRoute, the apex Service's selector for the kubernetes provider, and each other provider's
 * own objects), generates a steady synthetic request stream split the way that object says
 * (weights, A/B matches, mirroring), answers each request from the primary's or the canary's
 * behaviour (error rate, latency distribution) that the test controls, and exposes the counts at
 * /metrics under the names and labels each provider's data plane uses (mesh/metrics.ts), for the
 * test world's Prometheus to scrape.
 *
 * No request is sent anywhere: the stream is counted, not served. Outcomes are spread
 * deterministically (a 10% error rate is exactly every tenth request), so the rates Prometheus
 * computes are exact up to its extrapolation and tests can assert numbers. Everything is bounded:
 * requests per second, the lifetime, and one routing read in flight per app.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import { BUCKETS_MS, exposition } from "./mesh/metrics.ts";
import { type RouterKind, readers } from "./mesh/readers.ts";
import { ALL_TO_PRIMARY, type ReaderClients, type Side, type Split } from "./mesh/split.ts";
import { addScrapeTarget, removeScrapeTarget } from "./prometheus.ts";

export type { RouterKind, Side, Split };

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

export interface MeshApp {
  readonly namespace: string;
  /** The apex service; the routing object has its name, and `<service>-primary`/`-canary` are the backends. */
  readonly service: string;
  /** The target workload, which is the canary; the primary workload is `<target>-primary`. */
  readonly target: string;
  readonly router: RouterKind;
  /** The user's own routing object (ingressRef/routeRef name), for providers that have one. */
  readonly routingObject?: string;
  /** Service port, part of the Envoy cluster names. Default 80. */
  readonly port?: number;
  /** Requests per second of the synthetic stream. Default 100, at most 2000. */
  readonly rps?: number;
  /** Share of requests that carry what the A/B match conditions look for. Default 0. */
  readonly matchingShare?: number;
  readonly primary?: Partial<WorkloadBehaviour>;
  readonly canary?: Partial<WorkloadBehaviour>;
}

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
  readonly app: Required<Pick<MeshApp, "namespace" | "service" | "target" | "router" | "port">> &
    Pick<MeshApp, "routingObject">;
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
  const clients: ReaderClients = {
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
  };
  const apps: AppState[] = [];
  const tickMs = options.tickMs ?? 100;

  const server: Server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(
      exposition(
        apps.map(({ app, stats }) => ({
          app,
          counts: { primary: stats.primary.byCode, canary: stats.canary.byCode },
        })),
      ),
    );
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
      readers[state.app.router](state.app, clients)
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
        split: ALL_TO_PRIMARY,
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
