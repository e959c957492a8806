/**
 * The demo's live view of a rollout: the canary's share of traffic as a bar, a line per status
 * with the failed checks and, while they describe this rollout, the metrics with their units.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { outcomeMessage, progressLine, progressText, temporalUiLink, weightBar } from "../../demo/view.ts";

describe("demo view", () => {
  it("draws the canary's weight as a bar of 20 cells, bounded to 0..100", () => {
    assert.equal(weightBar(0), "░".repeat(20));
    assert.equal(weightBar(20), `${"█".repeat(4)}${"░".repeat(16)}`);
    assert.equal(weightBar(100), "█".repeat(20));
    assert.equal(weightBar(150), "█".repeat(20));
    assert.equal(weightBar(33, 10), `${"█".repeat(3)}${"░".repeat(7)}`);
  });

  it("shows phase, weight, failed checks of the threshold, and each metric with its unit and verdict", () => {
    const text = progressText(
      {
        phase: "Progressing",
        canaryWeight: 40,
        failedChecks: 1,
        lastAnalysis: [
          { name: "request-success-rate", value: 96.214, verdict: "fail" },
          { name: "request-duration", value: 25, verdict: "pass" },
          { name: "queue-depth", verdict: "error" },
        ],
      },
      3,
    );
    assert.equal(
      text,
      `Progressing       ${weightBar(40)}   40% canary  failed checks 1/3  ` +
        "request-success-rate 96.21% ✗  request-duration 25ms ✓  queue-depth ? ✗",
    );
    assert.match(progressLine(text, new Date(2024, 0, 1, 12, 3, 11)), /^12:03:11 {2}Progressing/);
  });

  it("leaves out the metrics while they are the previous rollout's, and keeps a failed rollout's", () => {
    const lastAnalysis = [{ name: "request-success-rate", value: 100, verdict: "pass" as const }];
    assert.doesNotMatch(
      progressText({ phase: "Progressing", canaryWeight: 0, lastAnalysis }, 3),
      /request-success-rate/,
    );
    assert.doesNotMatch(progressText({ phase: "Succeeded", lastAnalysis }, 3), /request-success-rate/);
    assert.match(
      progressText({ phase: "Failed", canaryWeight: 0, failedChecks: 3, lastAnalysis }, 3),
      /failed checks 3\/3 {2}request-success-rate 100% ✓$/,
    );
    assert.match(progressText({}, 1), /^\(new\) /);
  });

  it("gives the reason from the Promoted condition", () => {
    const message = "3 failed checks reached the threshold: request-success-rate 71.87% < 99%";
    assert.equal(
      outcomeMessage({ conditions: [{ type: "Promoted", status: "False", reason: "Failed", message }] }),
      message,
    );
    assert.equal(outcomeMessage({}), undefined);
  });

  it("links the workflow's page in the Temporal UI, its ID escaped as one path segment", () => {
    assert.equal(
      temporalUiLink("http://127.0.0.1:8233/", "default", "canary/demo/podinfo"),
      "http://127.0.0.1:8233/namespaces/default/workflows/canary%2Fdemo%2Fpodinfo",
    );
  });
});
