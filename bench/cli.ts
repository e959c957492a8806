/**
 * Command line benchmark (prints figures, asserts nothing about time), on a Temporal dev server
 * of its own, each figure from invocation to exit of a fresh `node src/main.ts` process:
 *  - `abort --wait` on a canary in the middle of a rollout, over N trials (30);
 *  - `list` of a namespace with 1,000 canaries (idle workflows that carry the search attributes;
 *    no worker is needed, as list reads visibility only), the median of 5 runs.
 * Usage: npm run bench:cli [-- --trials 30 --canaries 1000]
 */
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { searchAttributes } from "../src/temporal/search-attributes.ts";
import { canarySpec, withOwnServer } from "../test/workflows/support.ts";
import { workflowId } from "../workflows/messages.ts";
import { log, median, percentile } from "./figures.ts";

const { values } = parseArgs({
  options: { trials: { type: "string", default: "30" }, canaries: { type: "string", default: "1000" } },
});
const trials = Number(values.trials);
const canaries = Number(values.canaries);
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));

/** Runs the command line to its exit; the time includes the process start. */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [main, ...args], { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`durable-canary ${args.join(" ")} failed: ${stderr || err.message}`));
      else resolve({ ms: performance.now() - started, stdout });
    });
  });
}

Runtime.install({ logger: new DefaultLogger("ERROR") });
await withOwnServer("bench-cli", async (world, server) => {
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace };

  // abort --wait: each trial on a canary held at its first step by a long interval.
  const abortMs: number[] = [];
  for (let i = 0; i < trials; i++) {
    const canary = await world.startCanary(`abort-${i}`, canarySpec({ stepWeight: 20, interval: "1m" }));
    await canary.revise("r2");
    await canary.until("at 20%", (s) => s.routes.canaryWeight === 20);
    const { ms } = await timed(["abort", canary.name, "-n", world.namespace, "--by", "bench", "--wait"], env);
    if (canary.model.routes.canaryWeight !== 0)
      throw new Error("abort --wait exited before the route changed");
    abortMs.push(ms);
  }
  abortMs.sort((a, b) => a - b);
  log(
    `abort --wait, ${trials} trials: p50 ${percentile(abortMs, 50).toFixed(0)} ms, p90 ${percentile(abortMs, 90).toFixed(0)} ms, max ${(abortMs.at(-1) ?? 0).toFixed(0)} ms`,
  );

  // list: idle canary workflows on a task queue no worker polls, with the attributes the workflow sets.
  const namespace = "bench-list";
  for (let i = 0; i < canaries; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, canaries - i) }, (_, j) =>
        world.client.workflow.start("canaryWorkflow", {
          workflowId: workflowId(namespace, `app-${i + j}`),
          taskQueue: "bench-cli-idle",
          args: [{ ref: { namespace, name: `app-${i + j}` } }],
          typedSearchAttributes: [
            { key: searchAttributes.CanaryName, value: `app-${i + j}` },
            { key: searchAttributes.CanaryNamespace, value: namespace },
            { key: searchAttributes.CanaryPhase, value: "Succeeded" },
            { key: searchAttributes.CanaryWeight, value: 0 },
            { key: searchAttributes.TargetRevision, value: "r1" },
          ],
        }),
      ),
    );
  }
  const query = `WorkflowType = "canaryWorkflow" AND CanaryNamespace = "${namespace}"`;
  while ((await world.client.workflow.count(query)).count < canaries) await sleep(200);
  const listMs: number[] = [];
  for (let run = 0; run < 5; run++) {
    const { ms, stdout } = await timed(["list", "-n", namespace], env);
    const rows = stdout.trim().split("\n").length - 1;
    if (rows !== canaries) throw new Error(`list printed ${rows} canaries, not ${canaries}`);
    listMs.push(ms);
  }
  log(`list of ${canaries} canaries, 5 runs: ${listMs.map((ms) => ms.toFixed(0)).join(", ")} ms`);

  log(`cli_abort_wait_p50_ms=${percentile(abortMs, 50).toFixed(0)}`);
  log(`cli_list_${canaries}_ms=${median(listMs).toFixed(0)}`);
});
