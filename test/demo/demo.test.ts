/**
 * `npm run demo` end to end, as a person runs it but without waiting for Ctrl-C: on the running
 * test world, the demo's own operator process rolls out 2.0.0 to Succeeded, then rolls 3.0.0
 * back with the failing metric's value as the reason, and the demo removes what it made.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { admin } from "../activities/kube-support.ts";
import { isAlive } from "../harness/process.ts";

const demo = join(import.meta.dirname, "../../demo/run.ts");

function runDemo(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // The test runner's environment names the running world (DC_WORLD_DIR).
    const child = spawn(process.execPath, [demo, "--exit-when-done"], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

describe("npm run demo", () => {
  it("shows a healthy rollout succeed and a failing one rolled back with its reason, then cleans up", async () => {
    const { code, output } = await runDemo();
    assert.equal(code, 0, output);

    const healthy = output.indexOf("✔ Succeeded: 2.0.0 promoted, the primary runs 2.0.0");
    const failed = output.search(
      /✘ Failed, rolled back: .*3 failed checks reached the threshold: request-success-rate \d+(\.\d+)?% < 99%/,
    );
    assert.ok(healthy > 0, output);
    assert.ok(failed > healthy, output);
    assert.match(output, /the primary still runs 2\.0\.0/);

    // Live: every step of the healthy rollout, with its checks, before its outcome.
    const live = output.slice(0, healthy);
    for (const weight of [20, 40, 60]) assert.match(live, new RegExp(`Progressing .* ${weight}% canary`));
    assert.match(live, /request-success-rate 100% ✓/);

    const namespace = /to namespace (demo-\d+)/.exec(output)?.[1] ?? "";
    assert.match(
      output,
      new RegExp(`Temporal UI: http://\\S+/namespaces/\\S+/workflows/canary%2F${namespace}%2Fpodinfo`),
    );

    const pid = Number(/operator ready in \S+ \(pid (\d+)\)/.exec(output)?.[1]);
    assert.ok(pid > 0, output);
    assert.equal(isAlive(pid), false, "the operator is stopped");
    const left = await admin
      .api(CoreV1Api)
      .readNamespace({ name: namespace })
      .catch(() => undefined);
    assert.ok(left === undefined || left.metadata?.deletionTimestamp, `namespace ${namespace} is deleted`);
  });
});
