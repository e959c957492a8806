/**
 * Deployment strategy selection, as Flagger does it: `match` with `iterations` is A/B testing,
 * `iterations` alone is blue/green, anything else is a progressive canary. The kubernetes provider
 * can only switch a Service selector, so it always runs blue/green and never mirrors.
 */
import type { Provider } from "./canary.ts";

export const STRATEGY_KINDS = ["canary", "blue-green", "ab-testing"] as const;
export type StrategyKind = (typeof STRATEGY_KINDS)[number];

export interface Strategy {
  readonly kind: StrategyKind;
  /** Whether traffic is mirrored to the canary (blue/green throughout, canary for its first step). */
  readonly mirror: boolean;
}

export interface StrategyInputs {
  readonly iterations?: number | undefined;
  readonly match?: readonly unknown[] | undefined;
  readonly mirror?: boolean | undefined;
}

export function selectStrategy(analysis: StrategyInputs, provider: Provider | undefined): Strategy {
  if (provider === "kubernetes") return { kind: "blue-green", mirror: false };
  const iterations = analysis.iterations ?? 0;
  if (iterations > 0 && (analysis.match?.length ?? 0) > 0) return { kind: "ab-testing", mirror: false };
  return { kind: iterations > 0 ? "blue-green" : "canary", mirror: analysis.mirror ?? false };
}
