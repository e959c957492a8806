/**
 * What the scale and memory benchmarks share: a Temporal of their own (the dev server, or a
 * cluster of four services on PostgreSQL), worker processes of their own (bench/scale-worker.ts,
 * each a separate OS process so its RSS is its own), a client that starts and revises canaries as
 * the controller would, and what the workers report of each canary (phases, route writes).
 * DC_BENCH_BUNDLE names a workflow bundle file to run instead of one built from workflows/, to
 * measure a variant of the bundle (e.g. without a module) before changing the code.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { tsToMs } from "@temporalio/common";
import type { temporal as api } from "@temporalio/proto";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import { Supervisor } from "../test/harness/process.ts";
import { startTemporal } from "../test/harness/temporal.ts";
import {
  clusterServices,
  startTemporalCluster,
  type TemporalCluster,
} from "../test/harness/temporal-cluster.ts";
import { type Canary, WorkflowTestWorld, workflowBundle } from "../test/workflows/support.ts";
import { log, median, treeCpuSeconds, treePss, treeRss } from "./figures.ts";
import type { FromWorker, ToWorker, WorkerProcessSettings } from "./scale-ipc.ts";

export interface RouteWrite {
  at: number;
  weight: number;
  /** Which worker process wrote it (index into ScaleWorld.workers). */
  worker: number;
}

export interface CanaryRecord {
  canary: Canary;
  phase: string | undefined;
  /** When the worker that told `phase` wrote it: a later message about an earlier write is stale. */
  phaseAt: number;
  routes: RouteWrite[];
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves with the worker's own account of its memory. */
  memory(): Promise<Extract<FromWorker, { type: "memory" }>>;
}

export interface WorkerProcessOptions {
  /** Worker options over the operator's own, e.g. {"maxCachedWorkflows": 50}. */
  options?: Record<string, unknown>;
  /** Node flags for the worker process instead of the image's, e.g. ["--max-semi-space-size=4"]. */
  nodeFlags?: string[];
}

/** The dev server (one process, state in memory) or a cluster (four services on PostgreSQL). */
export type TemporalKind = "dev" | "cluster";

export interface ScaleWorldOptions extends WorkerProcessOptions {
  /** Left out, the dev server. */
  temporal?: TemporalKind;
  /** The cluster's history shards (fixed when a cluster is created); left out, the harness's. */
  historyShards?: number;
}

/** Resident sets in bytes. */
export interface Rss {
  workers: number[];
  /** Temporal's own processes together: the dev server, or the cluster's services (not PostgreSQL). */
  server: number;
  /** Each server-side process by name: `server`, or each cluster service and `postgres`. */
  servers: Record<string, number>;
}

export type DatabaseUsage = Awaited<ReturnType<TemporalCluster["databaseUsage"]>>;

/** The Temporal the world runs on. */
interface Temporal {
  kind: TemporalKind;
  address: string;
  namespace: string;
  /** The PID of each server-side process by name, now (a restarted service has a new one). */
  pids(): Record<string, number>;
  cluster?: TemporalCluster;
}

/** A bound on the runs followed back from a canary's newest run (a rollout takes one or two). */
const maxRunsFollowed = 20;

/**
 * The memory settings the operator's image runs with (its Dockerfile's NODE_OPTIONS and
 * MALLOC_ARENA_MAX), so the benchmarks' workers run as the operator does.
 */
function imageSettings(): { nodeFlags: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
  const nodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1] ?? "";
  const arenas = /MALLOC_ARENA_MAX=(\d+)/.exec(dockerfile)?.[1];
  return {
    nodeFlags: nodeOptions.split(/\s+/).filter(Boolean),
    env: arenas ? { MALLOC_ARENA_MAX: arenas } : {},
  };
}

export class ScaleWorld {
  readonly records = new Map<string, CanaryRecord>();
  readonly workers: WorkerProcess[] = [];
  private readonly world = new WorkflowTestWorld();
  private bundleFile = "";
  private readonly server: Temporal;

  private constructor(server: Temporal) {
    this.server = server;
  }

  get temporal(): TemporalKind {
    return this.server.kind;
  }

  /** Runs `body` with a Temporal of its own and `workers` worker processes, stopping them all after. */
  static async run<T>(
    name: string,
    workers: number,
    options: ScaleWorldOptions,
    body: (world: ScaleWorld) => Promise<T>,
  ): Promise<T> {
    const dir = mkdtempSync(join(tmpdir(), `durable-canary-${name}-`));
    const supervisor = new Supervisor(dir);
    let world: ScaleWorld | undefined;
    let cluster: TemporalCluster | undefined;
    try {
      const server = await startServer(supervisor, dir, options);
      cluster = server.cluster;
      world = new ScaleWorld(server);
      await world.world.connect(server);
      world.bundleFile = join(dir, "workflow-bundle.js");
      writeFileSync(
        world.bundleFile,
        process.env.DC_BENCH_BUNDLE
          ? readFileSync(process.env.DC_BENCH_BUNDLE, "utf8")
          : (await workflowBundle()).code,
      );
      for (let i = 0; i < workers; i++) await world.startWorker(options);
      return await body(world);
    } finally {
      await world?.stopWorkers();
      await world?.world.close();
      try {
        // Services first, then PostgreSQL with a clean shutdown; whatever is left, by the supervisor.
        await cluster?.stop();
      } finally {
        await supervisor.stopAll();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  private async startWorker(options: WorkerProcessOptions): Promise<void> {
    const index = this.workers.length;
    const settings: WorkerProcessSettings = {
      address: this.server.address,
      namespace: this.server.namespace,
      taskQueue: this.world.taskQueue,
      bundleFile: this.bundleFile,
      ...(options.options ? { options: options.options } : {}),
    };
    const image = imageSettings();
    const child = fork(new URL("./scale-worker.ts", import.meta.url), {
      env: { ...process.env, ...image.env, DC_BENCH_WORKER: JSON.stringify(settings) },
      execArgv: options.nodeFlags ?? image.nodeFlags,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const memoryWaiters: ((m: Extract<FromWorker, { type: "memory" }>) => void)[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      child.once("exit", (code, signal) => reject(new Error(`worker ${index} exited (${signal ?? code})`)));
      child.on("message", (message: FromWorker) => {
        if (message.type === "ready") resolve();
        else if (message.type === "memory") memoryWaiters.shift()?.(message);
        else this.heard(index, message);
      });
    });
    await ready;
    this.workers.push({
      child,
      pid: child.pid as number,
      memory: () =>
        new Promise((resolve) => {
          memoryWaiters.push(resolve);
          child.send({ type: "memory" } satisfies ToWorker);
        }),
    });
  }

  private heard(worker: number, message: FromWorker): void {
    if (message.type !== "phase" && message.type !== "route") return;
    const record = this.records.get(message.key);
    if (!record) return;
    if (message.type === "route") record.routes.push({ at: message.at, weight: message.weight, worker });
    else if (message.at >= record.phaseAt) {
      // Two workers can write a canary's status (a workflow task that timed out on one runs again
      // on the other): the latest write is the canary's phase, whichever message comes last.
      record.phase = message.phase;
      record.phaseAt = message.at;
    }
  }

  private async stopWorkers(): Promise<void> {
    await Promise.all(
      this.workers.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.send({ type: "stop" } satisfies ToWorker);
          }),
      ),
    );
  }

  /** Signal-with-start, as the controller does; the canary initializes at revision r1. */
  async startCanary(name: string, spec: ResolvedCanarySpec): Promise<CanaryRecord> {
    const canary = await this.world.startCanary(name, spec, "r1", { initialized: false });
    const record: CanaryRecord = { canary, phase: undefined, phaseAt: 0, routes: [] };
    this.records.set(`${this.world.namespace}/${name}`, record);
    return record;
  }

  /**
   * Starts `count` canaries named `<prefix>-<i>` (from `from`), `width` at a time, and waits until
   * every one has written its Initialized status; prints progress every `every`.
   */
  async startInitialized(
    prefix: string,
    from: number,
    count: number,
    spec: ResolvedCanarySpec,
    every = 500,
  ): Promise<CanaryRecord[]> {
    const started = performance.now();
    const records: CanaryRecord[] = [];
    await inBatches(count, 50, async (i) => {
      records[i] = await this.startCanary(`${prefix}-${String(from + i).padStart(5, "0")}`, spec);
      if ((i + 1) % every === 0) log(`started ${i + 1}/${count}`);
    });
    const deadline = Date.now() + 120_000 + count * 200;
    let reported = 0;
    for (;;) {
      const done = records.filter((r) => r.phase === "Initialized").length;
      if (done === count) break;
      if (Date.now() > deadline) throw new Error(`only ${done}/${count} canaries initialized in time`);
      if (done - reported >= every) {
        log(`initialized ${done}/${count}`);
        reported = done;
      }
      await sleep(200);
    }
    log(`initialized ${count} canaries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return records;
  }

  /** Resident set of each worker process and of each server-side process, now. */
  rss(): Rss {
    const servers = Object.fromEntries(
      Object.entries(this.server.pids()).map(([name, pid]) => [name, treeRss(pid)]),
    );
    return { workers: this.workers.map((w) => treeRss(w.pid)), server: temporalOwn(servers), servers };
  }

  /**
   * Resident sets once settled: after `warmupMs`, the median of one sample a second for
   * `samples` seconds, so a garbage collection in flight does not decide the figure.
   */
  async settledRss(warmupMs = 5000, samples = 10): Promise<Rss> {
    await sleep(warmupMs);
    const taken: Rss[] = [];
    for (let i = 0; i < samples; i++) {
      taken.push(this.rss());
      await sleep(1000);
    }
    const servers = Object.fromEntries(
      Object.keys(this.server.pids()).map((name) => [name, median(taken.map((t) => t.servers[name] ?? 0))]),
    );
    return {
      workers: this.workers.map((_, w) => median(taken.map((t) => t.workers[w] ?? 0))),
      server: temporalOwn(servers),
      servers,
    };
  }

  /** CPU seconds each worker process and each server-side process has used so far. */
  cpuSeconds(): { workers: number[]; servers: Record<string, number> } {
    return {
      workers: this.workers.map((w) => treeCpuSeconds(w.pid)),
      servers: Object.fromEntries(
        Object.entries(this.server.pids()).map(([name, pid]) => [name, treeCpuSeconds(pid)]),
      ),
    };
  }

  /** PostgreSQL's proportional set (its shared buffers once), now; undefined on the dev server. */
  postgresPss(): number | undefined {
    const pid = this.server.pids().postgres;
    return pid === undefined ? undefined : treePss(pid);
  }

  /** What the cluster's two databases hold now (see TemporalCluster.databaseUsage); undefined on the dev server. */
  databaseUsage(): Promise<DatabaseUsage> | undefined {
    return this.server.cluster?.databaseUsage();
  }

  /** The history length of each canary's workflow, as the server reports it. */
  async historyLengths(records: CanaryRecord[]): Promise<number[]> {
    const lengths: number[] = [];
    await inBatches(records.length, 20, async (i) => {
      const description = await (records[i] as CanaryRecord).canary.handle.describe();
      lengths[i] = description.historyLength;
    });
    return lengths;
  }

  /**
   * Waits until the histories of `records` stood still for five seconds (a minute at most), so
   * the last reports and continue-as-new of a step have landed; returns their lengths then.
   */
  async historiesStill(records: CanaryRecord[]): Promise<number[]> {
    let before = await this.historyLengths(records);
    for (let settle = 0; settle < 12; settle++) {
      await sleep(5000);
      const now = await this.historyLengths(records);
      const moved = now.some((length, i) => length !== before[i]);
      before = now;
      if (!moved) break;
    }
    return before;
  }

  /**
   * The history events of one rollout of a canary: every run of its workflow that was open
   * between `from` (its revision sent) and `to` (its promotion written), with the rollout
   * workflows those runs started. The runs are followed back from the newest through each one's
   * predecessor, until a run that closed before `from`. The run after the promotion (waiting for
   * the next revision) counts toward the next rollout, as the run that waited for this one counts here.
   */
  async rolloutHistoryEvents(record: CanaryRecord, from: number, to: number): Promise<number> {
    const client = this.world.client;
    const { workflowId } = record.canary.handle;
    const newest = await record.canary.handle.describe();
    let runId: string | undefined = newest.runId;
    let events = 0;
    const children: { workflowId: string; runId: string }[] = [];
    for (let run = 0; runId && run < maxRunsFollowed; run++) {
      const history: api.api.history.v1.IHistoryEvent[] =
        (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
      const first = history[0];
      const last = history.at(-1);
      const start = first?.eventTime ? tsToMs(first.eventTime) : 0;
      // Only the newest run can be open; every earlier one ended with its last event.
      const open = run === 0 && newest.closeTime === undefined;
      const end = open ? Number.POSITIVE_INFINITY : last?.eventTime ? tsToMs(last.eventTime) : 0;
      if (end < from) break;
      if (start <= to) {
        events += history.length;
        for (const event of history) {
          const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
          if (child?.workflowId && child.runId)
            children.push({ workflowId: child.workflowId, runId: child.runId });
        }
      }
      runId = first?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    }
    for (const child of children) {
      events += (await client.workflow.getHandle(child.workflowId, child.runId).describe()).historyLength;
    }
    return events;
  }
}

/** Temporal's own processes' share of `servers`: all but PostgreSQL. */
function temporalOwn(servers: Record<string, number>): number {
  return Object.entries(servers).reduce((sum, [name, bytes]) => sum + (name === "postgres" ? 0 : bytes), 0);
}

/** The dev server, or a cluster in `<dir>/temporal` whose startup lines the bench prints. */
async function startServer(
  supervisor: Supervisor,
  dir: string,
  options: ScaleWorldOptions,
): Promise<Temporal> {
  if (options.temporal === "cluster") {
    const cluster = await startTemporalCluster(supervisor, {
      dir: join(dir, "temporal"),
      ...(options.historyShards ? { numHistoryShards: options.historyShards } : {}),
      log: (line) => log(`temporal cluster: ${line}`),
    });
    return {
      kind: "cluster",
      address: cluster.address,
      namespace: cluster.namespace,
      cluster,
      pids: () => {
        const processes = cluster.processes();
        return Object.fromEntries(
          [...clusterServices, "postgres" as const].map((name) => [name, processes[name].pid]),
        );
      },
    };
  }
  const server = await startTemporal(supervisor, { dir });
  return {
    kind: "dev",
    address: server.address,
    namespace: server.namespace,
    pids: () => ({ server: server.process.pid }),
  };
}

/** Runs `task` for 0..n-1 with at most `width` at a time. */
export async function inBatches(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}
