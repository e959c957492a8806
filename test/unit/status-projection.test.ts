import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nextStatus, trackedConfigsPatch } from "../../activities/status.ts";
import type { StatusUpdate } from "../../workflows/activity-port.ts";

const update: StatusUpdate = {
  phase: "Progressing",
  canaryWeight: 10,
  failedChecks: 0,
  iterations: 0,
  revision: "r2",
  lastPromotedRevision: "r1",
  message: "Analysing revision r2",
};

describe("nextStatus", () => {
  it("projects the update with the Promoted condition", () => {
    assert.deepEqual(nextStatus({}, update, "T1"), {
      phase: "Progressing",
      canaryWeight: 10,
      failedChecks: 0,
      iterations: 0,
      lastAppliedSpec: "r2",
      lastPromotedSpec: "r1",
      lastTransitionTime: "T1",
      conditions: [
        {
          type: "Promoted",
          status: "Unknown",
          reason: "Progressing",
          message: "Analysing revision r2",
          lastUpdateTime: "T1",
          lastTransitionTime: "T1",
        },
      ],
    });
  });

  it("carries the last analysis's metric values, and a new value is a change", () => {
    const measured: StatusUpdate = {
      ...update,
      metrics: [
        { name: "request-success-rate", value: 99.5, verdict: "pass" },
        { name: "latency", value: undefined, verdict: "error" },
      ],
    };
    const current = nextStatus({}, measured, "T1") ?? {};
    assert.deepEqual(current.lastAnalysis, [
      { name: "request-success-rate", verdict: "pass", value: 99.5 },
      { name: "latency", verdict: "error" },
    ]);
    assert.equal(nextStatus(current, measured, "T2"), undefined);
    assert.equal(nextStatus(current, update, "T2"), undefined, "an update without metrics keeps them");
    const changed = {
      ...measured,
      metrics: [{ name: "request-success-rate", value: 98, verdict: "fail" as const }],
    };
    assert.deepEqual(nextStatus(current, changed, "T2")?.lastAnalysis, [
      { name: "request-success-rate", verdict: "fail", value: 98 },
    ]);
  });

  it("is undefined when nothing but time would change", () => {
    const current = nextStatus({}, update, "T1") ?? {};
    assert.equal(nextStatus(current, update, "T2"), undefined);
  });

  it("moves lastTransitionTime on a phase change only, and the condition's on a status change only", () => {
    const current = nextStatus({}, update, "T1") ?? {};
    const weighted = nextStatus(current, { ...update, canaryWeight: 20 }, "T2");
    assert.equal(weighted?.lastTransitionTime, "T1");
    assert.equal(weighted?.conditions?.[0]?.lastUpdateTime, "T2");
    assert.equal(weighted?.conditions?.[0]?.lastTransitionTime, "T1");
    const promoting = nextStatus(weighted ?? {}, { ...update, phase: "Promoting" }, "T3");
    assert.equal(promoting?.lastTransitionTime, "T3");
    assert.equal(promoting?.conditions?.[0]?.lastTransitionTime, "T1", "Unknown → Unknown");
    const succeeded = nextStatus(promoting ?? {}, { ...update, phase: "Succeeded", canaryWeight: 0 }, "T4");
    assert.equal(succeeded?.conditions?.[0]?.status, "True");
    assert.equal(succeeded?.conditions?.[0]?.lastTransitionTime, "T4");
  });

  it("keeps revisions it is not told about", () => {
    const current = { lastAppliedSpec: "a", lastPromotedSpec: "b" };
    const next = nextStatus(
      current,
      { ...update, revision: undefined, lastPromotedRevision: undefined },
      "T",
    );
    assert.equal(next?.lastAppliedSpec, "a");
    assert.equal(next?.lastPromotedSpec, "b");
  });
});

describe("trackedConfigsPatch", () => {
  it("sets new and changed checksums and removes configs no longer used", () => {
    assert.deepEqual(
      trackedConfigsPatch(
        { "ConfigMap/a": "1", "Secret/b": "2" },
        { "ConfigMap/a": "1", "ConfigMap/c": "3" },
      ),
      {
        "Secret/b": null,
        "ConfigMap/c": "3",
      },
    );
    assert.equal(trackedConfigsPatch({ "ConfigMap/a": "1" }, { "ConfigMap/a": "1" }), undefined);
    assert.deepEqual(trackedConfigsPatch(undefined, {}), undefined);
  });
});
