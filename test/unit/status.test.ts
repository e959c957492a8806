import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CanaryPhase } from "../../src/api/canary.ts";
import {
  initialRolloutState,
  projectStatus,
  type RolloutState,
  routeTo,
} from "../../workflows/decisions/index.ts";

const rollout: RolloutState = {
  ...initialRolloutState(),
  revision: "r2",
  lastPromotedRevision: "r1",
  route: routeTo(30),
  iterations: 2,
  failedChecks: 1,
};

describe("projectStatus", () => {
  test("carries Flagger's status fields", () => {
    const status = projectStatus({ ...rollout, phase: "Progressing" });
    assert.deepEqual(status, {
      phase: "Progressing",
      canaryWeight: 30,
      failedChecks: 1,
      iterations: 2,
      lastAppliedSpec: "r2",
      lastPromotedSpec: "r1",
      condition: { status: "Unknown", reason: "Progressing", message: "Analysing revision r2" },
    });
  });

  const messages: [CanaryPhase, Partial<RolloutState>, string][] = [
    ["Initializing", {}, "Creating the primary and the services"],
    ["Initialized", {}, "Primary runs revision r1; waiting for a new revision"],
    [
      "Waiting",
      { gate: { type: "confirm-rollout", sinceMs: 0, checkedAtMs: 1 } },
      "Analysing revision r2; holding at the confirm-rollout gate",
    ],
    [
      "WaitingPromotion",
      { gate: { type: "confirm-promotion", sinceMs: 0, checkedAtMs: 1 }, pausedAtMs: 5 },
      "Analysing revision r2; holding at the confirm-promotion gate; paused by an operator",
    ],
    ["Promoting", {}, "Promoting revision r2 to the primary"],
    ["Promoting", { pausedAtMs: 5 }, "Promoting revision r2 to the primary; paused by an operator"],
    ["Finalising", {}, "Revision r2 promoted; scaling down the canary"],
    ["Succeeded", {}, "Revision r2 promoted"],
    [
      "Failed",
      { failureReason: "metric request-duration: 731 is above the maximum 500" },
      "Revision r2 rolled back: metric request-duration: 731 is above the maximum 500",
    ],
    ["Terminating", {}, "Canary deleted; cleaning up"],
    ["Terminated", {}, "Canary deleted"],
  ];
  for (const [phase, overrides, message] of messages) {
    test(`${phase}: ${message}`, () => {
      assert.equal(projectStatus({ ...rollout, ...overrides, phase }).condition.message, message);
    });
  }

  test("the Promoted condition is True after success and False after a rollback", () => {
    assert.equal(projectStatus({ ...rollout, phase: "Succeeded" }).condition.status, "True");
    assert.equal(projectStatus({ ...rollout, phase: "Failed" }).condition.status, "False");
  });
});
