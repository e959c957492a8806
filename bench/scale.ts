/**
 * Scale benchmark (prints figures, asserts nothing about time): `--canaries` canaries roll out at
 * once on one worker and a fresh Temporal dev server, with instant in-memory activities, each
 * through `--steps` weight steps at `--interval` seconds; their revisions arrive spread over one
 * interval. A step's lag is how late its route change came: the k-th is due k intervals after the
 * revision was sent (promotion after the last).
 * The worker shares this process with the client and the cluster models, so the RSS printed is an
 * upper bound for the worker alone.
 * Usage: npm run bench:scale [-- --canaries 1000 --steps 5 --interval 15]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { type Canary, canarySpec, withOwnServer } from "../test/workflows/support.ts";
import { log, percentile } from "./figures.ts";

const { values } = parseArgs({
  options: {
    canaries: { type: "string", default: "1000" },
    steps: { type: "string", default: "5" },
    interval: { type: "string", default: "15" },
  },
});
const count = Number(values.canaries);
const steps = Number(values.steps);
const intervalMs = Number(values.interval) * 1000;

const megabytes = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Runs `task` for 0..n-1 with at most `width` at a time. */
async function inBatches(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

Runtime.install({ logger: new DefaultLogger("ERROR") });
await withOwnServer("bench-scale", async (world) => {
  log(`${count} canaries, ${steps} steps at ${intervalMs / 1000} s each`);

  const canaries: Canary[] = [];
  const stepWeights = Array.from({ length: steps }, (_, k) => Math.round((100 * (k + 1)) / steps));
  const spec = canarySpec({ interval: `${intervalMs}ms`, stepWeights, threshold: 1 });
  const initStarted = performance.now();
  await inBatches(count, 50, async (i) => {
    canaries[i] = await world.startCanary(`scale-${String(i).padStart(4, "0")}`, spec);
    if ((i + 1) % 100 === 0) log(`initialized ${i + 1}/${count}`);
  });
  log(`initialized ${count} canaries in ${((performance.now() - initStarted) / 1000).toFixed(1)} s`);

  // New revisions arrive spread over one interval, as deployments do, so the worker sees a
  // steady count/interval steps per second rather than every canary stepping at the same instant.
  const sent: number[] = [];
  const sendStart = performance.now();
  await inBatches(count, 100, async (i) => {
    const due = sendStart + (i * intervalMs) / count;
    await sleep(Math.max(0, due - performance.now()));
    sent[i] = Date.now();
    await canaries[i]?.revise("r2");
  });
  log(`revisions sent over ${((performance.now() - sendStart) / 1000).toFixed(1)} s`);

  let maxRss = process.memoryUsage().rss;
  const deadline = Date.now() + (steps + 1) * intervalMs * 3 + 120_000;
  for (let tick = 1; ; tick++) {
    await sleep(500);
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    const done = canaries.filter((c) => c.model.lastStatus?.phase === "Succeeded").length;
    if (done === count) break;
    if (tick % 20 === 0) {
      const changes = canaries.reduce((n, c) => n + c.model.routeLog.length, 0);
      log(`progress: ${done}/${count} succeeded, ${changes} route changes, rss ${megabytes(maxRss)} MB`);
    }
    if (Date.now() > deadline) throw new Error(`only ${done}/${count} canaries succeeded in time`);
  }

  // Route changes after the revision: steps 1..N, then the promotion (index N).
  const lags: number[] = [];
  const lagsByStep: number[][] = Array.from({ length: steps + 1 }, () => []);
  const durations: number[] = [];
  canaries.forEach((canary, i) => {
    const start = sent[i] ?? Number.NaN;
    const changes = canary.model.routeLog.filter((change) => change.at >= start);
    changes.forEach((change, k) => {
      const lag = change.at - (start + k * intervalMs);
      lags.push(lag);
      lagsByStep[k]?.push(lag);
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
  log(`scale_canaries=${count}`);
  log(`step_lag_p50_ms=${percentile(lags, 50)}`);
  log(`step_lag_p99_ms=${percentile(lags, 99)}`);
  log(`worker_rss_max_mb=${megabytes(maxRss)}`);
});
