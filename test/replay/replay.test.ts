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
import { STEADY_CADENCE_PATCH } from "../../workflows/canary/patches.ts";
import { workflowBundle } from "../workflows/support.ts";

const dir = join(import.meta.dirname, "histories");
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

describe("replay of committed workflow histories", () => {
  it("has histories to replay", () => {
    assert.ok(files.length >= 4, `expected recorded histories in ${dir}`);
  });

  it("replays every history without non-determinism", async () => {
    const histories = files.map((file) => recorded(readHistory(file)));
    assert.deepEqual(await replayFailures(histories), []);
  });

  it("replays lean runs whatever the clock reads after a step's local activities", async () => {
    // On replay the workflow's clock after a local activity is the time its marker recorded, which
    // can differ from what the original run read: a step must not branch on it. Shifting every
    // marker past the next step's due time (the scenarios' intervals are 1 s at most) proves it.
    const lean = files
      .map(readHistory)
      .filter((json) => JSON.stringify(json).includes(encodedPatch(STEADY_CADENCE_PATCH)));
    assert.ok(lean.length >= 4, "expected histories recorded with the steady-cadence patch");
    const shifted = lean.map((json) => recorded(shiftLocalActivityClock(json, 2_000)));
    assert.deepEqual(await replayFailures(shifted), []);
  });
});

type HistoryJson = {
  events: {
    workflowExecutionStartedEventAttributes?: { workflowId: string };
    markerRecordedEventAttributes?: {
      markerName: string;
      details: Record<string, { payloads: { data?: string }[] }>;
    };
  }[];
};

function readHistory(file: string): HistoryJson {
  return JSON.parse(readFileSync(join(dir, file), "utf8"));
}

/** The recorded workflow ID, since the workflow derives its rollout workflows' IDs from it. */
function recorded(json: HistoryJson) {
  const workflowId = json.events[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? "";
  return { workflowId, history: historyFromJSON(json) };
}

async function replayFailures(histories: ReturnType<typeof recorded>[]): Promise<string[]> {
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: await workflowBundle() },
    histories,
  )) {
    replayed++;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  assert.equal(replayed, histories.length);
  return failures;
}

/** How a patch's ID appears in a history: inside the base64 JSON of its marker's details. */
function encodedPatch(id: string): string {
  return Buffer.from(`{"id":"${id}"`).toString("base64").slice(0, -4);
}

/** A copy in which every local activity completed `ms` later than recorded. */
function shiftLocalActivityClock(json: HistoryJson, ms: number): HistoryJson {
  const copy: HistoryJson = structuredClone(json);
  for (const event of copy.events) {
    const marker = event.markerRecordedEventAttributes;
    const payload =
      marker?.markerName === "core_local_activity" ? marker.details.data?.payloads[0] : undefined;
    if (!payload?.data) continue;
    const data = JSON.parse(Buffer.from(payload.data, "base64").toString());
    const completed = data.complete_time.seconds * 1000 + Math.floor(data.complete_time.nanos / 1e6) + ms;
    data.complete_time = { seconds: Math.floor(completed / 1000), nanos: (completed % 1000) * 1e6 };
    payload.data = Buffer.from(JSON.stringify(data)).toString("base64");
  }
  return copy;
}
