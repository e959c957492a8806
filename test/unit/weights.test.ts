import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  canaryRoutePlan,
  canaryWeightSteps,
  nextCanaryRoute,
  nextCanaryWeight,
  PRIMARY_ONLY,
  type Route,
  routeTo,
  TOTAL_WEIGHT,
  type WeightSettings,
} from "../../workflows/decisions/index.ts";

function settings(overrides: Partial<WeightSettings>): WeightSettings {
  return { stepWeight: undefined, stepWeights: [], maxWeight: 100, mirror: false, ...overrides };
}

describe("canaryWeightSteps", () => {
  const cases: [string, Partial<WeightSettings>, number[]][] = [
    ["stepWeight dividing maxWeight", { stepWeight: 10, maxWeight: 50 }, [10, 20, 30, 40, 50]],
    ["stepWeight not dividing maxWeight stops at maxWeight", { stepWeight: 20, maxWeight: 50 }, [20, 40, 50]],
    ["default maxWeight", { stepWeight: 30 }, [30, 60, 90, 100]],
    ["one step to the top", { stepWeight: 100 }, [100]],
    ["stepWeights", { stepWeights: [1, 5, 10, 50], maxWeight: 50 }, [1, 5, 10, 50]],
    ["stepWeights above maxWeight are cut", { stepWeights: [10, 20, 80], maxWeight: 25 }, [10, 20, 25]],
    ["no step configured goes straight to maxWeight", { maxWeight: 40 }, [40]],
    ["stepWeight 0 counts as unset", { stepWeight: 0, maxWeight: 40 }, [40]],
  ];
  for (const [title, overrides, expected] of cases) {
    test(title, () => assert.deepEqual(canaryWeightSteps(settings(overrides)), expected));
  }
});

describe("nextCanaryWeight", () => {
  const cases: [string, Partial<WeightSettings>, number, number][] = [
    ["first step", { stepWeight: 10, maxWeight: 50 }, 0, 10],
    ["middle step", { stepWeight: 10, maxWeight: 50 }, 20, 30],
    ["last partial step", { stepWeight: 20, maxWeight: 50 }, 40, 50],
    ["stepWeight adds to an off-plan weight", { stepWeight: 20, maxWeight: 100 }, 25, 45],
    ["stepWeights continue above an off-plan weight", { stepWeights: [5, 25, 60], maxWeight: 60 }, 15, 25],
    ["stepWeights beyond a lowered maxWeight stop at it", { stepWeights: [5, 25, 60], maxWeight: 20 }, 5, 20],
    ["no step configured jumps to maxWeight", { maxWeight: 40 }, 0, 40],
    ["at maxWeight it stays", { stepWeight: 10, maxWeight: 50 }, 50, 50],
    ["above a lowered maxWeight it stays", { stepWeight: 10, maxWeight: 30 }, 40, 40],
    ["stepWeights", { stepWeights: [5, 25, 60], maxWeight: 60 }, 5, 25],
  ];
  for (const [title, overrides, current, expected] of cases) {
    test(title, () => assert.equal(nextCanaryWeight(settings(overrides), current), expected));
  }
});

describe("nextCanaryRoute", () => {
  test("mirrors for one step before shifting weight", () => {
    const s = settings({ stepWeight: 10, maxWeight: 30, mirror: true });
    const mirrored = nextCanaryRoute(s, PRIMARY_ONLY);
    assert.deepEqual(mirrored, { primaryWeight: 100, canaryWeight: 0, mirror: true });
    assert.deepEqual(nextCanaryRoute(s, mirrored), routeTo(10));
    assert.deepEqual(nextCanaryRoute(s, routeTo(10)), routeTo(20));
  });

  test("does not move past maxWeight", () => {
    const s = settings({ stepWeight: 10, maxWeight: 30 });
    assert.deepEqual(nextCanaryRoute(s, routeTo(30)), routeTo(30));
  });

  test("canaryRoutePlan lists the mirroring step first", () => {
    assert.deepEqual(canaryRoutePlan(settings({ stepWeight: 50, mirror: true })), [
      routeTo(0, true),
      routeTo(50),
      routeTo(100),
    ]);
    assert.deepEqual(canaryRoutePlan(settings({ stepWeights: [10, 70], maxWeight: 70 })), [
      routeTo(10),
      routeTo(70),
    ]);
  });
});

const stepWeightSettings = fc
  .record({
    stepWeight: fc.integer({ min: 1, max: 100 }),
    extra: fc.integer({ min: 0, max: 99 }),
    mirror: fc.boolean(),
  })
  .map(({ stepWeight, extra, mirror }) =>
    settings({ stepWeight, maxWeight: Math.min(100, stepWeight + extra), mirror }),
  );

const stepWeightsSettings = fc
  .record({
    weights: fc.uniqueArray(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 10 }),
    mirror: fc.boolean(),
  })
  .map(({ weights, mirror }) => {
    const sorted = [...weights].sort((a, b) => a - b);
    return settings({ stepWeights: sorted, maxWeight: sorted.at(-1) as number, mirror });
  });

const anySettings = fc.oneof(stepWeightSettings, stepWeightsSettings);

/** Follows nextCanaryRoute from all-primary until it stops moving. */
function walk(s: WeightSettings): Route[] {
  const routes: Route[] = [];
  let route = PRIMARY_ONLY;
  for (let i = 0; i <= TOTAL_WEIGHT + 1; i++) {
    const next = nextCanaryRoute(s, route);
    if (next === route) return routes;
    routes.push(next);
    route = next;
  }
  throw new Error("the weight sequence did not end");
}

describe("weight sequences (properties)", () => {
  test("are monotonic, bounded by maxWeight, end at it and match the plan", () => {
    fc.assert(
      fc.property(anySettings, (s) => {
        const routes = walk(s);
        assert.deepEqual(routes, canaryRoutePlan(s));
        const weights = routes.map((r) => r.canaryWeight);
        for (let i = 1; i < weights.length; i++) {
          assert.ok((weights[i] as number) > (weights[i - 1] as number), `not increasing: ${weights}`);
        }
        assert.ok(weights.every((w) => w >= 0 && w <= s.maxWeight));
        assert.equal(weights.at(-1), s.maxWeight);
        assert.ok(routes.every((r) => r.primaryWeight + r.canaryWeight === TOTAL_WEIGHT));
        assert.equal(routes.filter((r) => r.mirror).length, s.mirror ? 1 : 0);
      }),
    );
  });

  test("every step is at most stepWeight", () => {
    fc.assert(
      fc.property(stepWeightSettings, (s) => {
        let previous = 0;
        for (const route of walk(s)) {
          assert.ok(route.canaryWeight - previous <= (s.stepWeight as number));
          previous = route.canaryWeight;
        }
      }),
    );
  });

  test("stepWeights are visited exactly", () => {
    fc.assert(
      fc.property(stepWeightsSettings, (s) => {
        const weights = walk(s)
          .filter((r) => !r.mirror)
          .map((r) => r.canaryWeight);
        assert.deepEqual(weights, s.stepWeights);
      }),
    );
  });

  test("from any weight the next one is above it, up to maxWeight", () => {
    fc.assert(
      fc.property(anySettings, fc.integer({ min: 0, max: 100 }), (s, current) => {
        const next = nextCanaryWeight(s, current);
        if (current >= s.maxWeight) assert.equal(next, current);
        else assert.ok(next > current && next <= s.maxWeight);
      }),
    );
  });
});
