import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  nextPromotionRoute,
  PRIMARY_ONLY,
  promotionRoutePlan,
  routeTo,
} from "../../workflows/decisions/index.ts";

describe("nextPromotionRoute", () => {
  const cases: [string, number | undefined, number, number][] = [
    ["all at once without stepWeightPromotion", undefined, 60, 0],
    ["stepWeightPromotion 0 means all at once", 0, 60, 0],
    ["one step back", 20, 60, 40],
    ["never below zero", 50, 30, 0],
    ["from all traffic on the canary (blue/green, A/B)", 25, 100, 75],
  ];
  for (const [title, step, from, to] of cases) {
    test(title, () => assert.deepEqual(nextPromotionRoute(step, routeTo(from)), routeTo(to)));
  }

  test("stops mirroring", () => {
    assert.deepEqual(nextPromotionRoute(10, routeTo(0, true)), PRIMARY_ONLY);
  });
});

describe("promotion sequences (properties)", () => {
  test("end with all traffic on the primary, decreasing the canary by the step", () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        fc.integer({ min: 0, max: 100 }),
        fc.boolean(),
        (step, from, mirror) => {
          const plan = promotionRoutePlan(step, routeTo(from, mirror));
          assert.deepEqual(plan.at(-1), PRIMARY_ONLY);
          let previous = from;
          for (const route of plan) {
            assert.equal(route.primaryWeight + route.canaryWeight, 100);
            assert.equal(route.mirror, false);
            assert.ok(route.canaryWeight < previous || (previous === 0 && route.canaryWeight === 0));
            if (step !== undefined) assert.ok(previous - route.canaryWeight <= step);
            previous = route.canaryWeight;
          }
          const expectedLength = step === undefined || from === 0 ? 1 : Math.ceil(from / step);
          assert.equal(plan.length, expectedLength);
        },
      ),
    );
  });
});
