import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { StrategyKind } from "../../src/api/strategy.ts";
import {
  describeStep,
  isAnalysisStart,
  PRIMARY_ONLY,
  type Progress,
  planStep,
  routeTo,
  type StepSettings,
  type StrategyStep,
} from "../../workflows/decisions/index.ts";
import { spec, webhook } from "./helpers/specs.ts";

/** Applies planStep until it promotes; returns every step taken, the promotion last. */
function run(strategy: StrategyKind, settings: StepSettings): StrategyStep[] {
  const steps: StrategyStep[] = [];
  let progress: Progress = { route: PRIMARY_ONLY, iterations: 0 };
  for (let i = 0; i < 250; i++) {
    const step = planStep(strategy, settings, progress);
    steps.push(step);
    if (step.kind === "promote") return steps;
    progress = { route: step.route, iterations: step.iterations };
  }
  throw new Error("the strategy never promotes");
}

const gates = [webhook("more", "confirm-traffic-increase"), webhook("promote", "confirm-promotion")];

describe("planStep", () => {
  test("canary: weights up to maxWeight, confirm-traffic-increase before each, confirm-promotion at the end", () => {
    const { analysis } = spec({ stepWeight: 20, maxWeight: 50, webhooks: gates });
    assert.deepEqual(run("canary", analysis), [
      { kind: "route", route: routeTo(20), iterations: 0, gate: "confirm-traffic-increase" },
      { kind: "route", route: routeTo(40), iterations: 0, gate: "confirm-traffic-increase" },
      { kind: "route", route: routeTo(50), iterations: 0, gate: "confirm-traffic-increase" },
      { kind: "promote", gate: "confirm-promotion" },
    ]);
  });

  test("canary with mirroring: the mirror step needs no confirmation", () => {
    const { analysis } = spec({ stepWeight: 50, mirror: true, webhooks: gates });
    assert.deepEqual(run("canary", analysis).slice(0, 2), [
      { kind: "route", route: routeTo(0, true), iterations: 0, gate: undefined },
      { kind: "route", route: routeTo(50), iterations: 0, gate: "confirm-traffic-increase" },
    ]);
  });

  test("canary without gate webhooks has no gates", () => {
    const { analysis } = spec({ stepWeight: 100 });
    assert.deepEqual(run("canary", analysis), [
      { kind: "route", route: routeTo(100), iterations: 0, gate: undefined },
      { kind: "promote", gate: undefined },
    ]);
  });

  test("A/B testing: iterations with matching requests on the canary, then promotion", () => {
    const { analysis } = spec({
      iterations: 2,
      match: [{ headers: { user: { exact: "qa" } } }],
      webhooks: gates,
    });
    assert.deepEqual(run("ab-testing", analysis), [
      { kind: "route", route: routeTo(100), iterations: 1, gate: undefined },
      { kind: "route", route: routeTo(100), iterations: 2, gate: undefined },
      { kind: "promote", gate: "confirm-promotion" },
    ]);
  });

  test("blue/green: iterations on the primary, the gated switch to the canary, then promotion", () => {
    const { analysis } = spec({ iterations: 2, webhooks: gates });
    assert.deepEqual(run("blue-green", analysis), [
      { kind: "route", route: PRIMARY_ONLY, iterations: 1, gate: undefined },
      { kind: "route", route: PRIMARY_ONLY, iterations: 2, gate: undefined },
      { kind: "route", route: routeTo(100), iterations: 3, gate: "confirm-promotion" },
      { kind: "promote", gate: undefined },
    ]);
  });

  test("blue/green with mirroring mirrors every iteration", () => {
    const { analysis } = spec({ iterations: 2, mirror: true });
    const routes = run("blue-green", analysis).flatMap((s) => (s.kind === "route" ? [s.route] : []));
    assert.deepEqual(routes, [routeTo(0, true), routeTo(0, true), routeTo(100)]);
  });
});

describe("isAnalysisStart", () => {
  const cases: [string, boolean, Progress, boolean][] = [
    ["nothing routed yet", false, { route: PRIMARY_ONLY, iterations: 0 }, true],
    ["weight routed", false, { route: routeTo(10), iterations: 0 }, false],
    ["an iteration ran", false, { route: PRIMARY_ONLY, iterations: 1 }, false],
    ["traffic mirrored", true, { route: routeTo(0, true), iterations: 0 }, false],
    ["mirror configured but not applied yet", true, { route: PRIMARY_ONLY, iterations: 0 }, true],
  ];
  for (const [title, mirror, progress, expected] of cases) {
    test(title, () => assert.equal(isAnalysisStart({ mirror }, progress), expected));
  }
});

describe("describeStep", () => {
  const cases: [StrategyKind, StrategyStep, string][] = [
    ["canary", { kind: "route", route: routeTo(30), iterations: 0, gate: undefined }, "route 30% to canary"],
    [
      "canary",
      { kind: "route", route: routeTo(0, true), iterations: 0, gate: undefined },
      "mirror traffic to canary",
    ],
    ["canary", { kind: "promote", gate: undefined }, "promote canary to primary"],
    [
      "ab-testing",
      { kind: "route", route: routeTo(100), iterations: 2, gate: undefined },
      "iteration 2/3: route matching requests to canary",
    ],
    ["blue-green", { kind: "route", route: PRIMARY_ONLY, iterations: 1, gate: undefined }, "iteration 1/3"],
    [
      "blue-green",
      { kind: "route", route: routeTo(0, true), iterations: 1, gate: undefined },
      "iteration 1/3: mirror traffic to canary",
    ],
    [
      "blue-green",
      { kind: "route", route: routeTo(100), iterations: 4, gate: undefined },
      "route all traffic to canary",
    ],
  ];
  for (const [strategy, step, expected] of cases) {
    test(`${strategy}: ${expected}`, () =>
      assert.equal(describeStep(strategy, { iterations: 3 }, step), expected));
  }
});

describe("strategy progress (properties)", () => {
  test("iteration strategies promote after exactly their iterations", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.boolean(), (iterations, mirror) => {
        const blueGreen = spec({ iterations, mirror }).analysis;
        assert.equal(run("blue-green", blueGreen).length, iterations + 2);
        const ab = spec({ iterations, match: [{ headers: { a: { exact: "b" } } }] }).analysis;
        const steps = run("ab-testing", ab);
        assert.equal(steps.length, iterations + 1);
        assert.ok(steps.slice(0, -1).every((s) => s.kind === "route" && s.route.canaryWeight === 100));
      }),
    );
  });

  test("the canary strategy promotes only at maxWeight", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 100 }), (stepWeight, extra) => {
        const maxWeight = Math.min(100, stepWeight + extra);
        const steps = run("canary", spec({ stepWeight, maxWeight }).analysis);
        const last = steps.at(-2);
        assert.ok(last?.kind === "route" && last.route.canaryWeight === maxWeight);
        assert.equal(steps.filter((s) => s.kind === "promote").length, 1);
      }),
    );
  });
});
