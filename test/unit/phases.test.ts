import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CANARY_PHASES, type CanaryPhase } from "../../src/api/canary.ts";
import {
  type ConditionStatus,
  canTransition,
  isAnalysing,
  isBeforePromotion,
  isIdle,
  isRollingOut,
  PHASE_TRANSITIONS,
  promotedConditionStatus,
} from "../../workflows/decisions/index.ts";

describe("phases", () => {
  test("every phase has a transition list naming known phases", () => {
    assert.deepEqual(Object.keys(PHASE_TRANSITIONS).sort(), [...CANARY_PHASES].sort());
    for (const targets of Object.values(PHASE_TRANSITIONS)) {
      for (const to of targets) assert.ok(CANARY_PHASES.includes(to));
    }
  });

  test("transitions", () => {
    assert.equal(canTransition("Progressing", "Progressing"), true);
    assert.equal(canTransition("Progressing", "Promoting"), true);
    assert.equal(canTransition("Promoting", "Failed"), false);
    assert.equal(canTransition("Terminated", "Initializing"), false);
    assert.equal(canTransition("Succeeded", "Waiting"), true);
  });

  test("every phase can reach Terminated", () => {
    for (const phase of CANARY_PHASES) {
      const seen = new Set<CanaryPhase>([phase]);
      const queue: CanaryPhase[] = [phase];
      while (queue.length > 0) {
        for (const next of PHASE_TRANSITIONS[queue.shift() as CanaryPhase]) {
          if (!seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
      }
      assert.ok(seen.has("Terminated"), `${phase} cannot reach Terminated`);
    }
  });

  const table: [CanaryPhase, boolean, boolean, boolean, boolean, ConditionStatus][] = [
    // phase, idle, analysing, before promotion, rolling out, Promoted condition
    ["Initializing", false, false, false, false, "Unknown"],
    ["Initialized", true, false, false, false, "True"],
    ["Waiting", false, false, true, true, "Unknown"],
    ["Progressing", false, true, true, true, "Unknown"],
    ["WaitingPromotion", false, true, true, true, "Unknown"],
    ["Promoting", false, false, false, true, "Unknown"],
    ["Finalising", false, false, false, true, "Unknown"],
    ["Succeeded", true, false, false, false, "True"],
    ["Failed", true, false, false, false, "False"],
    ["Terminating", false, false, false, false, "Unknown"],
    ["Terminated", false, false, false, false, "Unknown"],
  ];
  for (const [phase, idle, analysing, beforePromotion, rollingOut, condition] of table) {
    test(phase, () => {
      assert.deepEqual(
        [
          isIdle(phase),
          isAnalysing(phase),
          isBeforePromotion(phase),
          isRollingOut(phase),
          promotedConditionStatus(phase),
        ],
        [idle, analysing, beforePromotion, rollingOut, condition],
      );
    });
  }
});
