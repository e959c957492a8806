import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  evaluateGate,
  type GateObservation,
  type GateOutcome,
  gateAlertMuted,
  gateDeadlineMs,
  gateTimeoutMs,
  hasGate,
} from "../../workflows/decisions/index.ts";
import { spec, webhook } from "./helpers/specs.ts";

describe("gate configuration", () => {
  const { analysis } = spec({
    stepWeight: 10,
    gateTimeout: "30m",
    webhooks: [
      webhook("rollout-a", "confirm-rollout", { gateTimeout: "10m", muteAlert: true }),
      webhook("rollout-b", "confirm-rollout", { gateTimeout: "5m", muteAlert: true }),
      webhook("promote", "confirm-promotion", { muteAlert: true }),
      webhook("promote-2", "confirm-promotion"),
      webhook("load", "rollout"),
    ],
  });

  test("a gate exists only with webhooks of its type", () => {
    assert.equal(hasGate(analysis, "confirm-rollout"), true);
    assert.equal(hasGate(analysis, "confirm-promotion"), true);
    assert.equal(hasGate(analysis, "confirm-traffic-increase"), false);
  });

  test("the shortest webhook gateTimeout wins, else analysis.gateTimeout", () => {
    assert.equal(gateTimeoutMs(analysis, "confirm-rollout"), 300_000);
    assert.equal(gateTimeoutMs(analysis, "confirm-promotion"), 1_800_000);
  });

  test("without any gateTimeout a gate waits forever", () => {
    const plain = spec({ stepWeight: 10, webhooks: [webhook("promote", "confirm-promotion")] }).analysis;
    assert.equal(gateTimeoutMs(plain, "confirm-promotion"), undefined);
  });

  test("a gate alerts unless all of its webhooks are muted", () => {
    assert.equal(gateAlertMuted(analysis, "confirm-rollout"), true);
    assert.equal(gateAlertMuted(analysis, "confirm-promotion"), false);
    assert.equal(gateAlertMuted(analysis, "confirm-traffic-increase"), false);
  });

  test("gateDeadlineMs", () => {
    assert.equal(
      gateDeadlineMs({ type: "confirm-rollout", sinceMs: 1000, checkedAtMs: undefined }, 500),
      1500,
    );
    assert.equal(
      gateDeadlineMs({ type: "confirm-rollout", sinceMs: 1000, checkedAtMs: undefined }, undefined),
      undefined,
    );
  });
});

describe("evaluateGate", () => {
  const base: GateObservation = {
    webhooksPassed: false,
    approved: false,
    sinceMs: 1000,
    nowMs: 2000,
    timeoutMs: 5000,
  };
  const cases: [string, Partial<GateObservation>, GateOutcome][] = [
    ["webhooks answered 2xx", { webhooksPassed: true }, "open"],
    ["approved by an operator", { approved: true }, "open"],
    ["approval at the deadline still opens", { approved: true, nowMs: 9000 }, "open"],
    ["closed before the deadline", {}, "closed"],
    ["closed at the deadline", { nowMs: 6000 }, "timeout"],
    ["no timeout waits forever", { timeoutMs: undefined, nowMs: 1e12 }, "closed"],
    ["first evaluation cannot time out", { sinceMs: undefined, nowMs: 1e12 }, "closed"],
  ];
  for (const [title, overrides, expected] of cases) {
    test(title, () => assert.equal(evaluateGate({ ...base, ...overrides }), expected));
  }
});
