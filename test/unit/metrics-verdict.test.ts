import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { formatValue, type Judgement, judgeValue } from "../../activities/metrics/verdict.ts";
import type { ThresholdRange } from "../../src/api/canary.ts";

describe("judgeValue", () => {
  const cases: [string, number, ThresholdRange, string, Judgement][] = [
    [
      "below the minimum",
      93.1,
      { min: 99 },
      "%",
      { verdict: "fail", message: "request-success-rate 93.10% < 99%" },
    ],
    [
      "at the minimum",
      99,
      { min: 99 },
      "%",
      { verdict: "pass", message: "request-success-rate 99.00% >= 99%" },
    ],
    [
      "above the maximum",
      512.3,
      { max: 500 },
      "ms",
      { verdict: "fail", message: "request-success-rate 512.30ms > 500ms" },
    ],
    [
      "below the maximum",
      24.85,
      { max: 500 },
      "ms",
      { verdict: "pass", message: "request-success-rate 24.85ms <= 500ms" },
    ],
    [
      "within a range",
      0.0123,
      { min: 0, max: 0.05 },
      "",
      { verdict: "pass", message: "request-success-rate 0.0123 within [0, 0.05]" },
    ],
    ["no threshold", 7, {}, "", { verdict: "pass", message: "request-success-rate 7.00 (no threshold set)" }],
  ];
  for (const [title, value, range, unit, expected] of cases) {
    test(title, () => assert.deepEqual(judgeValue("request-success-rate", value, range, unit), expected));
  }

  test("fails exactly when the value lies outside the range", () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ noNaN: true }),
        fc.double({ noNaN: true }),
        (value, a, b) => {
          const [min, max] = a <= b ? [a, b] : [b, a];
          assert.equal(
            judgeValue("m", value, { min, max }).verdict,
            value >= min && value <= max ? "pass" : "fail",
          );
        },
      ),
    );
  });
});

describe("formatValue", () => {
  const cases: [number, string][] = [
    [93.1, "93.10"],
    [100, "100.00"],
    [0, "0.00"],
    [0.012345, "0.0123"],
    [-2.5, "-2.50"],
    [Number.POSITIVE_INFINITY, "Infinity"],
  ];
  for (const [value, shown] of cases)
    test(`${value} → ${shown}`, () => assert.equal(formatValue(value), shown));
});
