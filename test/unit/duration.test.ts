import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  DurationError,
  formatDuration,
  parseDuration,
  parsePrometheusDuration,
} from "../../src/api/duration.ts";

describe("parseDuration", () => {
  const valid: [string, number][] = [
    ["0", 0],
    ["1s", 1000],
    ["30s", 30_000],
    ["1m", 60_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["100ms", 100],
    ["1.5h", 5_400_000],
    ["2h45m", 9_900_000],
    [".5s", 500],
    ["1.s", 1000],
    ["1.1s", 1100],
    ["100us", 0.1],
    ["1µs", 0.001],
    ["1μs", 0.001],
    ["1500000ns", 1.5],
    ["-1s", -1000],
    ["+5s", 5000],
  ];
  for (const [text, ms] of valid) {
    test(`${JSON.stringify(text)} is ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  }

  const invalid: [string, string][] = [
    ["", "it is empty"],
    ["-", "it is empty"],
    ["10", "missing unit after 10"],
    ["1.5", "missing unit after 1.5"],
    ["5x", 'unknown unit "x"'],
    ["1s ", 'unknown unit "s "'],
    ["1 s", 'unknown unit " s"'],
    ["s", "expected a number"],
    ["1s.m", "expected a number"],
    ["99999999999h", "it is too large"],
  ];
  for (const [text, problem] of invalid) {
    test(`${JSON.stringify(text)} is rejected: ${problem}`, () => {
      assert.throws(
        () => parseDuration(text),
        (error: unknown) =>
          error instanceof DurationError &&
          error.problem === problem &&
          error.message.startsWith(`invalid duration ${JSON.stringify(text)}: ${problem}; use a number`),
      );
    });
  }
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [500, "500ms"],
    [1000, "1s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_661_001, "1h1m1s1ms"],
    [-1500, "-1s500ms"],
    [0.5, "0.5ms"],
  ];
  for (const [ms, text] of cases) {
    test(`${ms} ms is ${text}`, () => assert.equal(formatDuration(ms), text));
  }

  test("parses back to the same number of milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e10, max: 1e10 }), (ms) => {
        assert.equal(parseDuration(formatDuration(ms)), ms);
      }),
    );
  });
});

describe("parsePrometheusDuration", () => {
  const valid: [string, number][] = [
    ["30s", 30_000],
    ["1m", 60_000],
    ["1h30m", 5_400_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["1y", 31_536_000_000],
    ["1m500ms", 60_500],
    ["0s", 0],
    ["90s", 90_000],
  ];
  for (const [text, ms] of valid) {
    test(`${JSON.stringify(text)} is ${ms} ms`, () => assert.equal(parsePrometheusDuration(text), ms));
  }

  // What a PromQL range selector refuses, though Go or a person might write it.
  for (const text of ["", "1.5m", "30s1m", "1m1m", "500us", "1", "-1m", "1 m", "1M"]) {
    test(`${JSON.stringify(text)} is rejected`, () => {
      assert.throws(
        () => parsePrometheusDuration(text),
        (error: unknown) =>
          error instanceof DurationError &&
          error.message ===
            `invalid duration ${JSON.stringify(text)}: not a Prometheus duration (whole numbers with units y, w, d, h, m, s, ms, largest first); e.g. "30s", "1m" or "1h30m"`,
      );
    });
  }

  test("every whole-second duration formatDuration writes is one Prometheus reads back", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e7 }), (seconds) => {
        assert.equal(parsePrometheusDuration(formatDuration(seconds * 1000)), seconds * 1000);
      }),
    );
  });
});
