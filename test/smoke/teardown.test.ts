/** Proves teardown leaves no harness process alive, checked by PID, even when the runner is killed. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startCluster } from "../harness/cluster.ts";
import { isAlive, Supervisor, stopGroups, waitFor } from "../harness/process.ts";

const here = dirname(fileURLToPath(import.meta.url));

describe("test world: teardown", () => {
  it("stopAll stops every process of a whole cluster", async () => {
    const dir = mkdtempSync(join(tmpdir(), "durable-canary-teardown-"));
    const supervisor = new Supervisor(dir);
    try {
      await startCluster(supervisor, dir);
      // Running ones only: a server that lost a port race was started again.
      const pids = supervisor.processes.filter((p) => p.exit === undefined).map((p) => p.pid);
      assert.equal(pids.length, 5);
      assert.ok(pids.every(isAlive));
      await supervisor.stopAll();
      assert.deepEqual(
        supervisor.processes.filter((p) => isAlive(p.pid)).map((p) => p.name),
        [],
        "no process survives stopAll",
      );
      assert.equal(existsSync(supervisor.pidFile), false, "the PID file is removed after a clean teardown");
    } finally {
      await supervisor.stopAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the watchdog stops the world when the runner is killed with SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "durable-canary-watchdog-"));
    let pids: number[] = [];
    const holder = spawn(process.execPath, [join(here, "fixtures/world-holder.ts"), dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      pids = await new Promise<number[]>((resolve, reject) => {
        let out = "";
        holder.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes("\n")) resolve(JSON.parse(out) as number[]);
        });
        holder.on("exit", (code) => reject(new Error(`world holder exited early (${code})`)));
      });
      assert.ok(pids.length > 0 && pids.every(isAlive));
      holder.kill("SIGKILL");
      await waitFor(
        "watchdog to stop the orphaned world",
        async () => (pids.some(isAlive) ? undefined : true),
        {
          timeoutMs: 20_000,
        },
      );
    } finally {
      holder.kill("SIGKILL");
      // Never leave etcd behind, even if the watchdog failed the test.
      await stopGroups(pids, 1000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
