/** Builders of valid, defaulted Canary specs for unit tests. */
import type { ResolvedCanarySpec } from "../../../src/api/defaults.ts";
import { validateCanary } from "../../../src/api/validate.ts";

/** A minimal valid Canary spec (before defaults), for tests that tweak one field. */
export function rawSpec(
  analysis: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
    service: { port: 9898 },
    analysis: { interval: "1s", ...analysis },
    ...extra,
  };
}

/** A defaulted spec; throws with the validation errors if the inputs are invalid. */
export function spec(
  analysis: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): ResolvedCanarySpec {
  const result = validateCanary(rawSpec(analysis, extra));
  if (!result.ok) throw new Error(`invalid test spec:\n${result.errors.join("\n")}`);
  return result.spec;
}

export function webhook(
  name: string,
  type: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name, type, url: `http://hooks.test/${name}`, ...extra };
}
