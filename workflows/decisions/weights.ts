/**
 * Canary weights for the progressive (canary) strategy: stepWeight increments or an explicit
 * stepWeights list, never above maxWeight, with an optional mirroring step first.
 */
import type { ResolvedAnalysis } from "../../src/api/defaults.ts";
import { type Route, routeTo } from "./routes.ts";

export type WeightSettings = Pick<ResolvedAnalysis, "stepWeight" | "stepWeights" | "maxWeight" | "mirror">;

/** The weights the canary passes through, in order; the last one is maxWeight. */
export function canaryWeightSteps(settings: WeightSettings): number[] {
  const { stepWeight, stepWeights, maxWeight } = settings;
  const below: number[] = [];
  if (stepWeights.length > 0) {
    below.push(...stepWeights.filter((weight) => weight < maxWeight));
  } else if (stepWeight !== undefined && stepWeight > 0) {
    for (let weight = stepWeight; weight < maxWeight; weight += stepWeight) below.push(weight);
  }
  return [...below, maxWeight];
}

/**
 * The weight after `current`: current + stepWeight, or the first of stepWeights above it, capped
 * at maxWeight; so a spec edited mid-rollout continues from where the traffic is. At or above
 * maxWeight the weight stays put (time to promote).
 */
export function nextCanaryWeight(settings: WeightSettings, current: number): number {
  const { stepWeight, stepWeights, maxWeight } = settings;
  if (current >= maxWeight) return current;
  if (stepWeights.length === 0 && stepWeight !== undefined && stepWeight > 0) {
    return Math.min(current + stepWeight, maxWeight);
  }
  return stepWeights.find((weight) => weight > current && weight < maxWeight) ?? maxWeight;
}

/** The route after `route`: the mirroring step first when mirror is on, then the next weight. */
export function nextCanaryRoute(settings: WeightSettings, route: Route): Route {
  if (route.canaryWeight >= settings.maxWeight) return route;
  if (settings.mirror && route.canaryWeight === 0 && !route.mirror) return routeTo(0, true);
  return routeTo(nextCanaryWeight(settings, route.canaryWeight));
}

/** Every route of a canary rollout from the first step to maxWeight, for progress displays. */
export function canaryRoutePlan(settings: WeightSettings): Route[] {
  const plan = settings.mirror ? [routeTo(0, true)] : [];
  return [...plan, ...canaryWeightSteps(settings).map((weight) => routeTo(weight))];
}
