import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { WorkQueue } from "../../src/controller/work-queue.ts";

describe("WorkQueue", () => {
  it("runs a key added many times once, and never twice at once", async () => {
    const runs: string[] = [];
    let inWork = 0;
    let most = 0;
    const queue = new WorkQueue(async (key) => {
      inWork++;
      most = Math.max(most, inWork);
      runs.push(key);
      await sleep(20);
      inWork--;
      return undefined;
    });
    for (let i = 0; i < 5; i++) queue.add("a");
    queue.add("b");
    await sleep(5);
    queue.add("a"); // while in work: once more afterwards
    await sleep(100);
    assert.deepEqual(runs.sort(), ["a", "a", "b"]);
    assert.ok(most <= 2);
    await queue.stop();
  });

  it("retries a failing key with a growing backoff, and requeues on request", async () => {
    const at: number[] = [];
    const started = performance.now();
    const queue = new WorkQueue(
      async () => {
        at.push(performance.now() - started);
        if (at.length < 3) throw new Error("not yet");
        if (at.length === 3) return { requeueAfterMs: 30 };
        return undefined;
      },
      { baseDelayMs: 20 },
    );
    queue.add("k");
    await sleep(300);
    assert.equal(at.length, 4);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    assert.ok((gaps[0] ?? 0) >= 18 && (gaps[1] ?? 0) >= 38, `gaps ${gaps}`);
    assert.equal(queue.depth, 0);
    await queue.stop();
  });
});
