/**
 * What the weights-only routers (APISIX, Kuma) cannot do, as in Flagger: refused by name rather
 * than silently ignored.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { invalidSpec } from "../errors.ts";

export function refuseUnsupported(spec: ResolvedCanarySpec, provider: string): void {
  if (spec.strategy.kind === "ab-testing") {
    throw invalidSpec(
      `the ${provider} provider cannot route by analysis.match (A/B testing): remove analysis.match to run blue/green, or choose a provider with A/B testing`,
    );
  }
  if (spec.analysis.mirror) {
    throw invalidSpec(`the ${provider} provider cannot mirror traffic: remove analysis.mirror`);
  }
  if (spec.analysis.sessionAffinity) {
    throw invalidSpec(`the ${provider} provider has no session affinity: remove analysis.sessionAffinity`);
  }
}
