/**
 * Starting a server on ephemeral ports: one that exits before it is ready (another process took
 * its port) is started again; one that is merely slow is not.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { onFreshPorts, Supervisor, waitFor } from "../harness/process.ts";

describe("test world: port races", () => {
  it("starts a server again when it exits before it is ready, and gives up after the last attempt", async () => {
    const dir = mkdtempSync(join(tmpdir(), "durable-canary-ports-"));
    const supervisor = new Supervisor(dir);
    try {
      const attempts: number[] = [];
      const ready = await onFreshPorts(async (track, attempt) => {
        attempts.push(attempt);
        // The first two lose their port and die; the third keeps running.
        const script = attempt < 3 ? "echo 'bind: address already in use' >&2; exit 1" : "sleep 30";
        const proc = track(
          supervisor.start({ name: `server-${attempt}`, command: "sh", args: ["-c", script] }),
        );
        await waitFor("server", async () => (attempt === 3 ? proc : undefined), {
          timeoutMs: 5000,
          process: proc,
        });
        return proc;
      });
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.equal(ready.exit, undefined);

      await assert.rejects(
        onFreshPorts(async (track) => {
          const proc = track(supervisor.start({ name: "broken", command: "sh", args: ["-c", "exit 2"] }));
          await waitFor("broken server", async () => undefined, { timeoutMs: 5000, process: proc });
        }, 2),
        /broken server: broken exited \(exit code 2\) before it was ready/,
      );

      let slowAttempts = 0;
      await assert.rejects(
        onFreshPorts(async (track) => {
          slowAttempts++;
          const proc = track(supervisor.start({ name: "slow", command: "sleep", args: ["30"] }));
          await waitFor("slow server", async () => undefined, { timeoutMs: 300, process: proc });
        }),
        /slow server: not ready after 0.3s/,
      );
      assert.equal(slowAttempts, 1, "a server that still runs is not the victim of a port race");
    } finally {
      await supervisor.stopAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
