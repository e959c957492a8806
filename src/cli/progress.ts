/**
 * Where a rollout is among the steps its spec plans ("step 3/5"), by the same plan the workflow
 * follows, and the failed-check threshold: both come from the spec, not the status query.
 */

import type { Routes } from "../../workflows/activity-port.ts";
import { canaryRoutePlan } from "../../workflows/decisions/weights.ts";
import type { ResolvedCanarySpec } from "../api/defaults.ts";

export interface StepPosition {
  readonly current: number;
  readonly total: number;
}

/** The step a route and an iteration count stand at; 0 before the first step. */
export function stepPosition(spec: ResolvedCanarySpec, routes: Routes, iterations: number): StepPosition {
  const { analysis } = spec;
  switch (spec.strategy.kind) {
    case "canary": {
      const plan = canaryRoutePlan(analysis);
      const current = plan.filter(
        (step) =>
          step.canaryWeight < routes.canaryWeight ||
          (step.canaryWeight === routes.canaryWeight && (routes.canaryWeight > 0 || routes.mirror)),
      ).length;
      return { current, total: plan.length };
    }
    case "ab-testing":
      return { current: iterations, total: analysis.iterations };
    case "blue-green":
      // The iterations with users on the primary, then the switch to the canary.
      return { current: iterations, total: analysis.iterations + 1 };
  }
}

/** The step at which a canary weight stands, for a rollout that is over (its route is reset). */
export function stepAtWeight(spec: ResolvedCanarySpec, weight: number): StepPosition | undefined {
  if (spec.strategy.kind !== "canary") return undefined;
  return stepPosition(spec, { primaryWeight: 100 - weight, canaryWeight: weight, mirror: false }, 0);
}
