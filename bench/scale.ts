/**
 * Scale benchmark (prints figures, asserts nothing about time), on a Temporal of its own with
 * worker processes of their own (the operator's worker options, instant in-memory activities), so
 * the RSS printed is each process's alone. `--temporal dev` (default) is the dev server, one
 * process with its state in memory; `--temporal cluster` is a Temporal cluster as users run one:
 * frontend, history, matching and worker services as processes of their own on PostgreSQL. The
 * cluster adds each service's RSS, PostgreSQL's, and what a rollout leaves in the database.
 *
 * Rollout (default): `--canaries` canaries roll out at once through `--steps` weight steps at
 * `--interval` seconds; their revisions arrive spread over one interval. A step's lag is how late
 * its route change came: the k-th is due k intervals after the revision was sent (promotion after
 * the last). With `--workers 2` two worker processes share the task queue; each one's steps per
 * second are printed, and their total. `history_events_per_rollout` is the median over a sample
 * of the rollouts (every run of the canary's workflow the rollout used, and its rollout workflow).
 *
 * Idle (`--idle N`): N initialized canaries wait for a revision; prints the RSS and the history
 * events a sample of them wrote over `--idle-minutes` (the target is none).
 *
 * Usage: npm run bench:scale [-- --canaries 1000 --steps 5 --interval 15 --workers 1]
 *        npm run bench:scale -- --temporal cluster --canaries 200 --steps 5 --interval 10
 *        npm run bench:scale -- --idle 10000
 * `--worker-options` (JSON) and `--node-flags` change the workers, as in bench:memory.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { canarySpec } from "../test/workflows/support.ts";
import { log, median, megabytes, percentile } from "./figures.ts";
import {
  type CanaryRecord,
  type DatabaseUsage,
  inBatches,
  type Rss,
  ScaleWorld,
  type TemporalKind,
} from "./scale-world.ts";

const { values } = parseArgs({
  options: {
    canaries: { type: "string", default: "1000" },
    steps: { type: "string", default: "5" },
    interval: { type: "string", default: "15" },
    workers: { type: "string", default: "1" },
    temporal: { type: "string", default: "dev" },
    "history-shards": { type: "string" },
    idle: { type: "string" },
    "idle-minutes": { type: "string", default: "1" },
    "worker-options": { type: "string" },
    "node-flags": { type: "string" },
  },
});
const workerOptions = values["worker-options"] ? JSON.parse(values["worker-options"]) : undefined;
// Left out, the workers run with the image's flags; `--node-flags=` runs them with none.
const nodeFlags = values["node-flags"]?.split(/\s+/).filter(Boolean);
const steps = Number(values.steps);
const intervalMs = Number(values.interval) * 1000;
const workers = Number(values.workers);
const temporal = values.temporal as TemporalKind;
if (temporal !== "dev" && temporal !== "cluster")
  throw new Error(`--temporal is dev or cluster, not ${temporal}`);
/** The rollouts whose histories are read for history_events_per_rollout. */
const historySample = 50;

/** The rate of route writes over the busiest `windowMs` of the run, per second. */
function busiestRate(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while ((sorted[to] as number) - (sorted[from] as number) > windowMs) from++;
    best = Math.max(best, to - from + 1);
  }
  return best / (windowMs / 1000);
}

/** `count` of `records` evenly spread over them. */
function spreadSample<T>(records: T[], count: number): T[] {
  const size = Math.min(count, records.length);
  return Array.from({ length: size }, (_, i) => records[Math.floor((i * records.length) / size)]).filter(
    (r): r is T => r !== undefined,
  );
}

/**
 * Memory per process. On a cluster `server_rss_mb` is the four services together and PostgreSQL
 * is its own figure, summed over its processes: their RSS counts the shared buffers once per
 * backend that touched them, their PSS (proportional set) once in all.
 */
function printRss(world: ScaleWorld, rss: Rss): void {
  rss.workers.forEach((bytes, w) => {
    if (world.workers.length > 1) log(`worker_${w + 1}_rss_mb=${megabytes(bytes)}`);
  });
  log(`worker_rss_mb=${megabytes(Math.max(...rss.workers))}`);
  log(`server_rss_mb=${megabytes(rss.server)}`);
  if (world.temporal !== "cluster") return;
  for (const [name, bytes] of Object.entries(rss.servers)) {
    if (name !== "postgres") log(`server_rss_mb_${name}=${megabytes(bytes)}`);
  }
  log(`postgres_rss_mb=${megabytes(rss.servers.postgres ?? 0)}`);
  log(`postgres_pss_mb=${megabytes(world.postgresPss() ?? 0)}`);
}

/** The tables that grew most from `before` to `after`, per canary, for the reader. */
function tableGrowth(before: DatabaseUsage, after: DatabaseUsage, count: number): string {
  return Object.entries(after.tables)
    .map(([table, usage]) => ({
      table,
      rows: (usage.rows - (before.tables[table]?.rows ?? 0)) / count,
      bytes: (usage.bytes - (before.tables[table]?.bytes ?? 0)) / count,
    }))
    .filter((growth) => growth.rows !== 0 || growth.bytes !== 0)
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 8)
    .map((g) => `${g.table} ${g.rows.toFixed(1)} rows ${(g.bytes / 1024).toFixed(1)} KiB`)
    .join(", ");
}

interface CpuUse {
  seconds: number;
  /** CPU seconds used in the window by each worker process and each server-side process. */
  workers: number[];
  servers: Record<string, number>;
}

function cpuUse(world: ScaleWorld, before: ReturnType<ScaleWorld["cpuSeconds"]>, seconds: number): CpuUse {
  const now = world.cpuSeconds();
  return {
    seconds,
    workers: now.workers.map((used, w) => used - (before.workers[w] ?? 0)),
    servers: Object.fromEntries(
      Object.entries(now.servers).map(([name, used]) => [name, used - (before.servers[name] ?? 0)]),
    ),
  };
}

/**
 * CPU from the first revision sent until every canary succeeded: cores busy on average, and
 * milliseconds per route change (weight steps and promotions), the figure that scales with load.
 * As for memory, `server_` is Temporal's own processes and `postgres_` PostgreSQL's.
 */
function printCpu(cpu: CpuUse, changes: number): void {
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const temporalOwn = Object.entries(cpu.servers).filter(([name]) => name !== "postgres");
  const groups: [string, number][] = [
    ["worker", sum(cpu.workers)],
    ["server", sum(temporalOwn.map(([, used]) => used))],
    ...(cpu.servers.postgres === undefined ? [] : [["postgres", cpu.servers.postgres] as [string, number]]),
  ];
  const cores = (used: number) => (used / cpu.seconds).toFixed(2);
  for (const [name, used] of groups) {
    log(`${name}_cpu_cores=${cores(used)}`);
    log(`${name}_cpu_ms_per_step=${((used * 1000) / changes).toFixed(1)}`);
  }
  if (temporalOwn.length > 1) {
    for (const [name, used] of temporalOwn) log(`server_cpu_cores_${name}=${cores(used)}`);
  }
  log(`cpu_cores_total=${cores(sum(groups.map(([, used]) => used)))}`);
}

function serverRssText(rss: Rss): string {
  const services = Object.entries(rss.servers);
  if (services.length === 1) return `server ${megabytes(rss.server)} MB`;
  return `${services.map(([name, bytes]) => `${name} ${megabytes(bytes)}`).join(", ")} MB`;
}

async function rollout(world: ScaleWorld): Promise<void> {
  const count = Number(values.canaries);
  log(
    `${count} canaries, ${steps} steps at ${intervalMs / 1000} s each, ${workers} worker process(es), Temporal ${temporal}`,
  );
  const stepWeights = Array.from({ length: steps }, (_, k) => Math.round((100 * (k + 1)) / steps));
  const spec = canarySpec({ interval: `${intervalMs}ms`, stepWeights, threshold: 1 });
  const records = await world.startInitialized("scale", 0, count, spec, 100);
  // What initialization wrote is not the rollouts': its last reports and runs land first.
  await world.historiesStill(spreadSample(records, historySample));
  const usageBefore = await world.databaseUsage();

  // New revisions arrive spread over one interval, as deployments do, so the workers see a
  // steady count/interval steps per second rather than every canary stepping at the same instant.
  const sent: number[] = [];
  const cpuBefore = world.cpuSeconds();
  const sendStart = performance.now();
  await inBatches(count, 100, async (i) => {
    const due = sendStart + (i * intervalMs) / count;
    await sleep(Math.max(0, due - performance.now()));
    sent[i] = Date.now();
    await records[i]?.canary.revise("r2");
  });
  log(`revisions sent over ${((performance.now() - sendStart) / 1000).toFixed(1)} s`);

  let rss = world.rss();
  const deadline = Date.now() + (steps + 1) * intervalMs * 3 + 120_000;
  for (let tick = 1; ; tick++) {
    await sleep(500);
    rss = world.rss();
    const done = records.filter((r) => r.phase === "Succeeded").length;
    if (done === count) break;
    // Past the bound, the figures of what did happen say more than an error would.
    if (Date.now() > deadline) {
      log(`only ${done}/${count} canaries succeeded in time: figures below cover the route changes made`);
      break;
    }
    if (tick % 20 === 0) {
      const changes = records.reduce((n, r) => n + r.routes.length, 0);
      log(
        `progress: ${done}/${count} succeeded, ${changes} route changes, worker rss ${rss.workers.map(megabytes).join("/")} MB, ${serverRssText(rss)}`,
      );
    }
  }

  const cpu = cpuUse(world, cpuBefore, (performance.now() - sendStart) / 1000);

  // Route changes after the revision: steps 1..N, then the promotion (index N).
  const lags: number[] = [];
  const lagsByStep: number[][] = Array.from({ length: steps + 1 }, () => []);
  const durations: number[] = [];
  const writes: { at: number; worker: number }[] = [];
  let repeated = 0;
  records.forEach((record: CanaryRecord, i) => {
    const start = sent[i] ?? Number.NaN;
    // A workflow task that timed out runs again, with its route write: the same weight twice in a
    // row is one change made twice, timed by the first write.
    const written = record.routes.filter((change) => change.at >= start).sort((a, b) => a.at - b.at);
    const changes = written.filter((change, k) => change.weight !== written[k - 1]?.weight);
    repeated += written.length - changes.length;
    changes.forEach((change, k) => {
      const lag = change.at - (start + k * intervalMs);
      lags.push(lag);
      lagsByStep[k]?.push(lag);
      writes.push(change);
    });
    const last = changes.at(-1);
    if (last) durations.push(last.at - start);
  });
  lags.sort((a, b) => a - b);
  const byStep = lagsByStep.map((l, k) => {
    const sorted = [...l].sort((a, b) => a - b);
    return `${k < steps ? `step ${k + 1}` : "promotion"} ${percentile(sorted, 50)}/${percentile(sorted, 99)}`;
  });
  log(`step lag p50/p99 ms by step: ${byStep.join(", ")}`);
  durations.sort((a, b) => a - b);
  log(`route changes measured: ${lags.length} (expected ${count * (steps + 1)}), written again: ${repeated}`);
  log(`rollout duration: p50 ${percentile(durations, 50)} ms, max ${durations.at(-1)} ms`);
  log(`step lag: p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${lags.at(-1)} ms`);
  const firstSent = Math.min(...sent);
  const lastWrite = Math.max(...writes.map((w) => w.at));
  const seconds = (lastWrite - firstSent) / 1000;

  // A sample of the finished rollouts, once their last reports, continue-as-new and rollout
  // workflows have landed: the events each wrote, and then the database as it stands.
  const finished = records.flatMap((record, i) => {
    // The promotion is the last route write; two workers' writes reach the parent interleaved.
    const promoted = record.routes.length > 0 ? Math.max(...record.routes.map((r) => r.at)) : undefined;
    const start = sent[i];
    return record.phase === "Succeeded" && promoted !== undefined && start !== undefined
      ? [{ record, start, promoted }]
      : [];
  });
  const sample = spreadSample(finished, historySample);
  await world.historiesStill(sample.map((s) => s.record));
  const events: number[] = [];
  await inBatches(sample.length, 10, async (i) => {
    const { record, start, promoted } = sample[i] as (typeof sample)[number];
    events.push(await world.rolloutHistoryEvents(record, start, promoted));
  });
  const usageAfter = await world.databaseUsage();

  log(`temporal=${temporal}`);
  log(`scale_canaries=${count}`);
  log(`scale_succeeded=${records.filter((r) => r.phase === "Succeeded").length}`);
  log(`steps_per_second_due=${((count * 1000) / intervalMs).toFixed(1)}`);
  // When the workers keep up this is the demand, a lower bound on capacity; when steps lag, it is what they managed.
  log(
    `steps_per_second_capacity=${busiestRate(
      writes.map((w) => w.at),
      10_000,
    ).toFixed(1)}`,
  );
  // What each worker did over the whole run, from the first revision sent to the last write.
  world.workers.forEach((_, w) => {
    const own = writes.filter((write) => write.worker === w).length;
    log(`worker_${w + 1}_steps_per_second=${(own / seconds).toFixed(1)}`);
  });
  log(`steps_per_second_total=${(writes.length / seconds).toFixed(1)}`);
  log(`route_writes_repeated=${repeated}`);
  log(`step_lag_p50_ms=${percentile(lags, 50)}`);
  log(`step_lag_p99_ms=${percentile(lags, 99)}`);
  printCpu(cpu, writes.length);
  log(`history events of ${events.length} sampled rollouts: ${[...events].sort((a, b) => a - b).join(" ")}`);
  log(`history_events_per_rollout=${median(events)}`);
  if (usageBefore && usageAfter) {
    log(`database growth per rollout, largest first: ${tableGrowth(usageBefore, usageAfter, count)}`);
    // Every table of both databases (history, executions, tasks, visibility), rows and bytes with
    // indexes and TOAST, after the rollouts less before them. Closed runs and rollout workflows
    // stay until the namespace's retention passes; the table bytes also hold dead row versions
    // autovacuum has not reclaimed yet, as a live database does.
    log(`postgres_rows_per_rollout=${Math.round((usageAfter.rows - usageBefore.rows) / count)}`);
    log(`postgres_bytes_per_rollout=${Math.round((usageAfter.bytes - usageBefore.bytes) / count)}`);
  }
  printRss(world, rss);
}

async function idle(world: ScaleWorld, count: number): Promise<void> {
  const minutes = Number(values["idle-minutes"]);
  log(`${count} idle canaries, ${workers} worker process(es)`);
  const spec = canarySpec({ interval: "15s", stepWeights: [20, 40, 60, 80, 100], threshold: 1 });
  const records = await world.startInitialized("idle", 0, count, spec, 500);
  const sample = spreadSample(records, 100);
  // The last reports after initialization (events, attributes) may still be landing: the idle
  // minute starts once the sample's histories stood still for five seconds (a minute at most).
  const before = await world.historiesStill(sample);
  const idleEnd = Date.now() + minutes * 60_000;
  while (Date.now() < idleEnd) {
    await sleep(Math.min(15_000, idleEnd - Date.now()));
    const rss = world.rss();
    log(
      `idle: ${Math.round((idleEnd - Date.now()) / 1000)} s to go, worker rss ${rss.workers.map(megabytes).join("/")} MB, ${serverRssText(rss)}`,
    );
  }
  const after = await world.historyLengths(sample);
  const written = after.reduce((sum, length, i) => sum + length - (before[i] ?? 0), 0);
  log(`history events written by ${sample.length} sampled canaries in ${minutes} idle minute(s): ${written}`);
  log(`temporal=${temporal}`);
  log(`idle_canaries=${count}`);
  log(`idle_history_events_per_minute=${Math.round((written / minutes) * (count / sample.length))}`);
  printRss(world, await world.settledRss(0));
}

const processOptions = {
  ...(workerOptions ? { options: workerOptions } : {}),
  ...(nodeFlags ? { nodeFlags } : {}),
  temporal,
  ...(values["history-shards"] ? { historyShards: Number(values["history-shards"]) } : {}),
};
await ScaleWorld.run("bench-scale", workers, processOptions, async (world) => {
  if (values.idle !== undefined) await idle(world, Number(values.idle));
  else await rollout(world);
});
