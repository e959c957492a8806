/**
 * Scale benchmark (prints figures, asserts nothing about time), on a Temporal dev server of its
 * own with worker processes of their own (the operator's worker options, instant in-memory
 * activities), so the RSS printed is each process's alone.
 *
 * Rollout (default): `--canaries` canaries roll out at once through `--steps` weight steps at
 * `--interval` seconds; their revisions arrive spread over one interval. A step's lag is how late
 * its route change came: the k-th is due k intervals after the revision was sent (promotion after
 * the last). With `--workers 2` two worker processes share the task queue; each one's steps per
 * second are printed.
 *
 * Idle (`--idle N`): N initialized canaries wait for a revision; prints the RSS and the history
 * events a sample of them wrote over `--idle-minutes` (the target is none).
 *
 * Usage: npm run bench:scale [-- --canaries 1000 --steps 5 --interval 15 --workers 1]
 *        npm run bench:scale -- --idle 10000
 * `--worker-options` (JSON) and `--node-flags` change the workers, as in bench:memory.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { canarySpec } from "../test/workflows/support.ts";
import { log, megabytes, percentile } from "./figures.ts";
import { type CanaryRecord, inBatches, ScaleWorld } from "./scale-world.ts";

const { values } = parseArgs({
  options: {
    canaries: { type: "string", default: "1000" },
    steps: { type: "string", default: "5" },
    interval: { type: "string", default: "15" },
    workers: { type: "string", default: "1" },
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

function printRss(world: ScaleWorld, rss: { workers: number[]; server: number }): void {
  rss.workers.forEach((bytes, w) => {
    if (world.workers.length > 1) log(`worker_${w + 1}_rss_mb=${megabytes(bytes)}`);
  });
  log(`worker_rss_mb=${megabytes(Math.max(...rss.workers))}`);
  log(`server_rss_mb=${megabytes(rss.server)}`);
}

async function rollout(world: ScaleWorld): Promise<void> {
  const count = Number(values.canaries);
  log(`${count} canaries, ${steps} steps at ${intervalMs / 1000} s each, ${workers} worker process(es)`);
  const stepWeights = Array.from({ length: steps }, (_, k) => Math.round((100 * (k + 1)) / steps));
  const spec = canarySpec({ interval: `${intervalMs}ms`, stepWeights, threshold: 1 });
  const records = await world.startInitialized("scale", 0, count, spec, 100);

  // New revisions arrive spread over one interval, as deployments do, so the workers see a
  // steady count/interval steps per second rather than every canary stepping at the same instant.
  const sent: number[] = [];
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
        `progress: ${done}/${count} succeeded, ${changes} route changes, worker rss ${rss.workers.map(megabytes).join("/")} MB, server ${megabytes(rss.server)} MB`,
      );
    }
  }

  // Route changes after the revision: steps 1..N, then the promotion (index N).
  const lags: number[] = [];
  const lagsByStep: number[][] = Array.from({ length: steps + 1 }, () => []);
  const durations: number[] = [];
  const writes: { at: number; worker: number }[] = [];
  records.forEach((record: CanaryRecord, i) => {
    const start = sent[i] ?? Number.NaN;
    const changes = record.routes.filter((change) => change.at >= start).sort((a, b) => a.at - b.at);
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
  log(`route changes measured: ${lags.length} (expected ${count * (steps + 1)})`);
  log(`rollout duration: p50 ${percentile(durations, 50)} ms, max ${durations.at(-1)} ms`);
  log(`step lag: p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${lags.at(-1)} ms`);
  const firstSent = Math.min(...sent);
  const lastWrite = Math.max(...writes.map((w) => w.at));
  const seconds = (lastWrite - firstSent) / 1000;
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
  if (world.workers.length > 1) {
    world.workers.forEach((_, w) => {
      const own = writes.filter((write) => write.worker === w).length;
      log(`worker_${w + 1}_steps_per_second=${(own / seconds).toFixed(1)}`);
    });
  }
  log(`step_lag_p50_ms=${percentile(lags, 50)}`);
  log(`step_lag_p99_ms=${percentile(lags, 99)}`);
  printRss(world, rss);
}

async function idle(world: ScaleWorld, count: number): Promise<void> {
  const minutes = Number(values["idle-minutes"]);
  log(`${count} idle canaries, ${workers} worker process(es)`);
  const spec = canarySpec({ interval: "15s", stepWeights: [20, 40, 60, 80, 100], threshold: 1 });
  const records = await world.startInitialized("idle", 0, count, spec, 500);
  const sample = Array.from(
    { length: Math.min(100, count) },
    (_, i) => records[Math.floor((i * count) / Math.min(100, count))],
  ).filter((r): r is CanaryRecord => r !== undefined);
  // The last reports after initialization (events, attributes) may still be landing: the idle
  // minute starts once the sample's histories stood still for five seconds (a minute at most).
  let before = await world.historyLengths(sample);
  for (let settle = 0; settle < 12; settle++) {
    await sleep(5000);
    const now = await world.historyLengths(sample);
    const moved = now.some((length, i) => length !== before[i]);
    before = now;
    if (!moved) break;
  }
  const idleEnd = Date.now() + minutes * 60_000;
  while (Date.now() < idleEnd) {
    await sleep(Math.min(15_000, idleEnd - Date.now()));
    const rss = world.rss();
    log(
      `idle: ${Math.round((idleEnd - Date.now()) / 1000)} s to go, worker rss ${rss.workers.map(megabytes).join("/")} MB, server ${megabytes(rss.server)} MB`,
    );
  }
  const after = await world.historyLengths(sample);
  const written = after.reduce((sum, length, i) => sum + length - (before[i] ?? 0), 0);
  log(`history events written by ${sample.length} sampled canaries in ${minutes} idle minute(s): ${written}`);
  log(`idle_canaries=${count}`);
  log(`idle_history_events_per_minute=${Math.round((written / minutes) * (count / sample.length))}`);
  printRss(world, await world.settledRss(0));
}

const processOptions = {
  ...(workerOptions ? { options: workerOptions } : {}),
  ...(nodeFlags ? { nodeFlags } : {}),
};
await ScaleWorld.run("bench-scale", workers, processOptions, async (world) => {
  if (values.idle !== undefined) await idle(world, Number(values.idle));
  else await rollout(world);
});
