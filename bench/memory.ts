/**
 * Memory benchmark (prints figures, asserts nothing): the RSS of one worker process (the
 * operator's worker options, in-memory cluster models as activities) and of its Temporal dev
 * server with 0, 100 and 1,000 initialized idle canaries. Each figure is the median of ten
 * samples a second apart, taken five seconds after the canaries settled.
 * `--worker-options` and `--node-flags` change the worker, to measure one lever at a time.
 * Usage: npm run bench:memory [-- --idle 0,100,1000 --worker-options '{"maxCachedWorkflows":50}'
 *        --node-flags="--max-semi-space-size=4"]
 */
import { parseArgs } from "node:util";
import { canarySpec } from "../test/workflows/support.ts";
import { log, megabytes } from "./figures.ts";
import { type ScaleWorld, ScaleWorld as World } from "./scale-world.ts";

const { values } = parseArgs({
  options: {
    idle: { type: "string", default: "0,100,1000" },
    "worker-options": { type: "string" },
    "node-flags": { type: "string" },
  },
});
const levels = (values.idle ?? "").split(",").map(Number);
const options = values["worker-options"] ? JSON.parse(values["worker-options"]) : undefined;
// Left out, the workers run with the image's flags; `--node-flags=` runs them with none.
const nodeFlags = values["node-flags"]?.split(/\s+/).filter(Boolean);

/** What the worker says of its own memory: where the RSS goes, for the reader, not a figure. */
async function describeWorker(world: ScaleWorld): Promise<string> {
  const worker = world.workers[0];
  if (!worker) return "";
  const { usage, contexts } = await worker.memory();
  const mb = (n: number) => megabytes(n);
  return `heap used ${mb(usage.heapUsed)}/${mb(usage.heapTotal)} MB, external ${mb(usage.external)} MB, array buffers ${mb(usage.arrayBuffers)} MB, main-thread contexts ${contexts}`;
}

await World.run(
  "bench-memory",
  1,
  { ...(options ? { options } : {}), ...(nodeFlags ? { nodeFlags } : {}) },
  async (world) => {
    log(
      `worker options ${JSON.stringify(options ?? {})}, node flags ${nodeFlags ? JSON.stringify(nodeFlags) : "the image's"}; idle levels ${levels.join(", ")}`,
    );
    const spec = canarySpec({ interval: "15s", stepWeights: [20, 40, 60, 80, 100], threshold: 1 });
    let running = 0;
    for (const level of levels) {
      if (level > running) {
        await world.startInitialized("idle", running, level - running, spec);
        running = level;
      }
      const rss = await world.settledRss();
      log(`${level} idle: ${await describeWorker(world)}`);
      log(`worker_rss_idle_${level}_mb=${megabytes(rss.workers[0] ?? 0)}`);
      log(`server_rss_idle_${level}_mb=${megabytes(rss.server)}`);
    }
  },
);
