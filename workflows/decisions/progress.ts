/**
 * One analysis step of each strategy: what the next route is, or that it is time to promote,
 * and which gate (if the spec configures it) must open first.
 *
 * - canary: the next weight (after an optional mirroring step) up to maxWeight, then promote.
 * - A/B testing: `iterations` runs with matching requests on the canary, then promote.
 * - blue/green: `iterations` runs with users on the primary (optionally mirrored), then one run
 *   with all traffic switched to the canary, then promote.
 */
import type { GateType } from "../../src/api/canary.ts";
import type { ResolvedAnalysis } from "../../src/api/defaults.ts";
import type { StrategyKind } from "../../src/api/strategy.ts";
import { hasGate } from "./gates.ts";
import { type Route, routeTo } from "./routes.ts";
import { nextCanaryRoute, type WeightSettings } from "./weights.ts";

export type StepSettings = WeightSettings & Pick<ResolvedAnalysis, "iterations" | "webhooks">;

/** Where the rollout is: the current route and the analysis runs counted so far. */
export interface Progress {
  readonly route: Route;
  readonly iterations: number;
}

export type StrategyStep =
  | {
      readonly kind: "route";
      readonly route: Route;
      readonly iterations: number;
      /** A configured gate that must open before this step. */
      readonly gate: GateType | undefined;
    }
  | { readonly kind: "promote"; readonly gate: GateType | undefined };

export function planStep(strategy: StrategyKind, settings: StepSettings, progress: Progress): StrategyStep {
  const configured = (gate: GateType) => (hasGate(settings, gate) ? gate : undefined);
  const { route, iterations } = progress;
  switch (strategy) {
    case "canary": {
      if (route.canaryWeight >= settings.maxWeight)
        return { kind: "promote", gate: configured("confirm-promotion") };
      const next = nextCanaryRoute(settings, route);
      // Mirroring sends users nowhere new, so only a real weight increase asks for confirmation.
      const increases = next.canaryWeight > route.canaryWeight;
      return {
        kind: "route",
        route: next,
        iterations,
        gate: increases ? configured("confirm-traffic-increase") : undefined,
      };
    }
    case "ab-testing":
      if (iterations < settings.iterations) {
        return { kind: "route", route: routeTo(100), iterations: iterations + 1, gate: undefined };
      }
      return { kind: "promote", gate: configured("confirm-promotion") };
    case "blue-green":
      if (iterations < settings.iterations) {
        return {
          kind: "route",
          route: routeTo(0, settings.mirror),
          iterations: iterations + 1,
          gate: undefined,
        };
      }
      // The switch to the canary is the promotion decision, so the gate guards it (once).
      if (iterations === settings.iterations) {
        return {
          kind: "route",
          route: routeTo(100),
          iterations: iterations + 1,
          gate: configured("confirm-promotion"),
        };
      }
      return { kind: "promote", gate: undefined };
  }
}

/**
 * Whether this interval starts the analysis (no traffic and no runs yet): pre-rollout webhooks
 * run instead of the metric checks, as there is nothing to measure.
 */
export function isAnalysisStart(settings: Pick<WeightSettings, "mirror">, progress: Progress): boolean {
  return (
    progress.route.canaryWeight === 0 &&
    progress.iterations === 0 &&
    !(settings.mirror && progress.route.mirror)
  );
}

/** A short description of a step for events and timer summaries, e.g. "route 30% to canary". */
export function describeStep(
  strategy: StrategyKind,
  settings: Pick<StepSettings, "iterations">,
  step: StrategyStep,
): string {
  if (step.kind === "promote") return "promote canary to primary";
  const { route, iterations } = step;
  switch (strategy) {
    case "canary":
      return route.mirror ? "mirror traffic to canary" : `route ${route.canaryWeight}% to canary`;
    case "ab-testing":
      return `iteration ${iterations}/${settings.iterations}: route matching requests to canary`;
    case "blue-green":
      if (iterations > settings.iterations) return "route all traffic to canary";
      return `iteration ${iterations}/${settings.iterations}${route.mirror ? ": mirror traffic to canary" : ""}`;
  }
}
