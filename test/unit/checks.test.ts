import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { recordFailedCheck, summarizeChecks } from "../../workflows/decisions/index.ts";

describe("summarizeChecks", () => {
  test("all passed", () => {
    assert.deepEqual(
      summarizeChecks(
        [{ verdict: "pass", message: "request-success-rate 99.90% >= 99%" }],
        [{ name: "load", verdict: "pass", message: "200 OK" }],
      ),
      { passed: true, message: "all 2 checks passed" },
    );
  });

  test("failures name the check, its value and its threshold", () => {
    assert.deepEqual(
      summarizeChecks(
        [
          { verdict: "pass", message: "request-success-rate 99.90% >= 99%" },
          { verdict: "fail", message: "request-duration 731.00ms > 500ms" },
          { verdict: "error", message: "latency: Prometheus unreachable" },
        ],
        [{ name: "load", verdict: "fail", message: "500 Internal Server Error" }],
      ),
      {
        passed: false,
        message:
          "webhook load: 500 Internal Server Error; request-duration 731.00ms > 500ms; latency: Prometheus unreachable",
      },
    );
  });
});

describe("recordFailedCheck", () => {
  const cases: [number, number, number, boolean][] = [
    [0, 1, 1, true],
    [0, 3, 1, false],
    [1, 3, 2, false],
    [2, 3, 3, true],
    [5, 3, 6, true],
  ];
  for (const [before, threshold, after, reached] of cases) {
    test(`${before} failed, threshold ${threshold}`, () => {
      assert.deepEqual(recordFailedCheck(before, threshold), {
        failedChecks: after,
        thresholdReached: reached,
      });
    });
  }
});
