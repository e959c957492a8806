/**
 * TEST CODE ONLY: Skipper's split for an app routed by an Ingress with a canary copy
 * (`<routingObject>-canary`). Of routes for the same requests Skipper takes the one whose
 * predicates weigh most, `Weight(n)` adding n: the copy takes the user's Ingress's traffic only
 * with a positive `Weight(n)` in `zalando.org/skipper-predicate`, and never with `False()`. The
 * copy's paths with the same host and path are one route over their backends, split by
 * `zalando.org/backend-weights`: backends it gives a weight share in that ratio, the others get
 * nothing; with no backend weighted they share equally.
 */
import type { V1Ingress } from "@kubernetes/client-node";
import { canaryIngress } from "./ingress.ts";
import { ALL_TO_PRIMARY, classify, type SplitReader, toSplit } from "./split.ts";

function takesTraffic(predicate: string | undefined): boolean {
  const predicates = (predicate ?? "").split("&&").map((p) => p.trim());
  if (predicates.includes("False()")) return false;
  return predicates.some((p) => Number(/^Weight\((\d+)\)$/.exec(p)?.[1] ?? 0) > 0);
}

function parseWeights(text: string | undefined): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(text ?? "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/** The backends of the first host and path that routes to the app. */
function appRoute(app: Parameters<SplitReader>[0], ingress: V1Ingress): string[] {
  for (const rule of ingress.spec?.rules ?? []) {
    const paths = rule.http?.paths ?? [];
    const first = paths.find((p) => classify(app, p.backend.service?.name) !== undefined);
    if (first) {
      return paths.filter((p) => p.path === first.path).flatMap((p) => p.backend.service?.name ?? []);
    }
  }
  return [];
}

export const readSkipperSplit: SplitReader = async (app, clients) => {
  const ingress = await canaryIngress(app, clients);
  const annotations = ingress?.metadata?.annotations ?? {};
  if (!ingress || !takesTraffic(annotations["zalando.org/skipper-predicate"])) return ALL_TO_PRIMARY;
  const backends = appRoute(app, ingress);
  const weights = parseWeights(annotations["zalando.org/backend-weights"]);
  const weighted = backends.some((name) => typeof weights[name] === "number" && weights[name] > 0);
  return toSplit(
    backends.map((name) => ({
      backend: classify(app, name),
      weight: weighted ? Math.max(0, Number(weights[name] ?? 0)) : 1,
    })),
    false,
    0,
  );
};
