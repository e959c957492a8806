/**
 * Replays the committed histories (test/replay/histories, recorded by `npm run replay:record`)
 * against the current workflow code: a change that would make running workflows diverge
 * (non-determinism) fails here. Intended behaviour changes go behind patched() and new recordings.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { historyFromJSON } from "@temporalio/common/lib/proto-utils.js";
import { Worker } from "@temporalio/worker";
import { workflowBundle } from "../workflows/support.ts";

const dir = join(import.meta.dirname, "histories");
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

describe("replay of committed workflow histories", () => {
  it("has histories to replay", () => {
    assert.ok(files.length >= 4, `expected recorded histories in ${dir}`);
  });

  it("replays every history without non-determinism", async () => {
    // The recorded workflow ID, since the workflow derives its rollout workflows' IDs from it.
    const histories = files.map((file) => {
      const json = JSON.parse(readFileSync(join(dir, file), "utf8"));
      const workflowId: string = json.events[0].workflowExecutionStartedEventAttributes.workflowId;
      return { workflowId, history: historyFromJSON(json) };
    });
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle() },
      histories,
    )) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
