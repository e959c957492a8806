import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { ThresholdRange } from "../../src/api/canary.ts";
import {
  type CheckResult,
  checkThresholdRange,
  recordFailedCheck,
  summarizeChecks,
  type Verdict,
} from "../../workflows/decisions/index.ts";

describe("checkThresholdRange", () => {
  const cases: [string, number | undefined, ThresholdRange, Verdict][] = [
    ["above min", 99.5, { min: 99 }, { ok: true }],
    ["at min", 99, { min: 99 }, { ok: true }],
    ["below min", 97.25, { min: 99 }, { ok: false, reason: "97.25 is below the minimum 99" }],
    ["below max", 120, { max: 500 }, { ok: true }],
    ["above max", 731, { max: 500 }, { ok: false, reason: "731 is above the maximum 500" }],
    ["within a range", 5, { min: 1, max: 10 }, { ok: true }],
    ["no value", undefined, { min: 1 }, { ok: false, reason: "no value (is the canary receiving traffic?)" }],
    ["NaN", Number.NaN, { max: 1 }, { ok: false, reason: "no value (is the canary receiving traffic?)" }],
    ["no bounds", 42, {}, { ok: true }],
  ];
  for (const [title, value, range, expected] of cases) {
    test(title, () => assert.deepEqual(checkThresholdRange(value, range), expected));
  }

  test("passes exactly when the value lies within the range", () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true }),
        fc.double({ noNaN: true }),
        fc.double({ noNaN: true }),
        (value, a, b) => {
          const [min, max] = a <= b ? [a, b] : [b, a];
          assert.equal(checkThresholdRange(value, { min, max }).ok, value >= min && value <= max);
        },
      ),
    );
  });
});

describe("summarizeChecks", () => {
  test("all passed", () => {
    const results: CheckResult[] = [
      { kind: "webhook", name: "load", verdict: { ok: true } },
      { kind: "metric", name: "request-success-rate", verdict: { ok: true } },
    ];
    assert.deepEqual(summarizeChecks(results), { passed: true, message: "all 2 checks passed" });
  });

  test("failures name the check, its value and its threshold", () => {
    const results: CheckResult[] = [
      { kind: "webhook", name: "load", verdict: { ok: false, reason: "answered 500" } },
      { kind: "metric", name: "request-success-rate", verdict: { ok: true } },
      {
        kind: "metric",
        name: "request-duration",
        verdict: { ok: false, reason: "731 is above the maximum 500" },
      },
    ];
    assert.deepEqual(summarizeChecks(results), {
      passed: false,
      message: "webhook load: answered 500; metric request-duration: 731 is above the maximum 500",
    });
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
