/**
 * What the scale and memory benchmarks share: a Temporal dev server of their own, worker
 * processes of their own (bench/scale-worker.ts, each a separate OS process so its RSS is its
 * own), a client that starts and revises canaries as the controller would, and what the workers
 * report of each canary (phases, route writes).
 * DC_BENCH_BUNDLE names a workflow bundle file to run instead of one built from workflows/, to
 * measure a variant of the bundle (e.g. without a module) before changing the code.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import { Supervisor } from "../test/harness/process.ts";
import { startTemporal, type TemporalServer } from "../test/harness/temporal.ts";
import { type Canary, WorkflowTestWorld, workflowBundle } from "../test/workflows/support.ts";
import { log, median, treeRss } from "./figures.ts";
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
  readonly server: TemporalServer;

  private constructor(server: TemporalServer) {
    this.server = server;
  }

  /** Runs `body` with a server of its own and `workers` worker processes, stopping them all after. */
  static async run<T>(
    name: string,
    workers: number,
    options: WorkerProcessOptions,
    body: (world: ScaleWorld) => Promise<T>,
  ): Promise<T> {
    const dir = mkdtempSync(join(tmpdir(), `durable-canary-${name}-`));
    const supervisor = new Supervisor(dir);
    let world: ScaleWorld | undefined;
    try {
      const server = await startTemporal(supervisor, { dir });
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
      await supervisor.stopAll();
      rmSync(dir, { recursive: true, force: true });
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
    if (message.type === "phase") record.phase = message.phase;
    else record.routes.push({ at: message.at, weight: message.weight, worker });
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
    const record: CanaryRecord = { canary, phase: undefined, routes: [] };
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

  /** Resident set of each worker process and of the server, in bytes, now. */
  rss(): { workers: number[]; server: number } {
    return { workers: this.workers.map((w) => treeRss(w.pid)), server: treeRss(this.server.process.pid) };
  }

  /**
   * Resident sets once settled: after `warmupMs`, the median of one sample a second for
   * `samples` seconds, so a garbage collection in flight does not decide the figure.
   */
  async settledRss(warmupMs = 5000, samples = 10): Promise<{ workers: number[]; server: number }> {
    await sleep(warmupMs);
    const taken: { workers: number[]; server: number }[] = [];
    for (let i = 0; i < samples; i++) {
      taken.push(this.rss());
      await sleep(1000);
    }
    return {
      workers: this.workers.map((_, w) => median(taken.map((t) => t.workers[w] ?? 0))),
      server: median(taken.map((t) => t.server)),
    };
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
