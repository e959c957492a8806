/**
 * Skipper (`skipper`): the user's Ingress (`ingressRef`) is left as it is. The router owns
 * `<ingressRef.name>-canary`, a copy whose paths to the apex Service go to the primary Service,
 * each repeated for the canary Service, and whose `zalando.org/backend-weights` annotation splits
 * traffic between the two. While the canary takes traffic the copy's route predicate starts with
 * `Weight(100)`, so Skipper prefers it to the user's route for the same requests (the user's own
 * predicates still apply); with none on the canary it is `False()`, and the user's Ingress (the
 * apex Service, the primary's pods) serves everything. A/B testing, mirroring and session
 * affinity are refused.
 */
import { type ResolvedCanarySpec, serviceNames } from "../../src/api/defaults.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { invalidSpec } from "../errors.ts";
import { type Annotations, IngressRouter, metadataPath, rewritePaths, toService } from "./ingress.ts";
import type { RouterContext } from "./router.ts";

export const SKIPPER_ANNOTATIONS = {
  predicate: "zalando.org/skipper-predicate",
  backendWeights: "zalando.org/backend-weights",
  /**
   * The predicate while the canary takes traffic, kept on the copy so that a weight step can
   * copy it into place (one JSON patch) without reading the user's predicates first.
   */
  routingPredicate: "durable-canary.io/skipper-routing-predicate",
} as const;

const A = SKIPPER_ANNOTATIONS;
const PREFERRED = "Weight(100)";
const DISABLED = "False()";

function check(spec: ResolvedCanarySpec): void {
  if (spec.strategy.kind === "ab-testing") {
    throw invalidSpec(
      "analysis.match is not supported by the skipper provider: remove it (with analysis.iterations alone the canary runs blue/green)",
    );
  }
  if (spec.analysis.mirror) {
    throw invalidSpec("analysis.mirror is not supported by the skipper provider: remove it");
  }
  if (spec.analysis.sessionAffinity !== undefined) {
    throw invalidSpec("analysis.sessionAffinity is not supported by the skipper provider: remove it");
  }
}

function backendWeights(spec: ResolvedCanarySpec, routes: Routes): string {
  const names = serviceNames(spec);
  return JSON.stringify({ [names.primary]: routes.primaryWeight, [names.canary]: routes.canaryWeight });
}

function annotations(spec: ResolvedCanarySpec, user: Annotations, routes: Routes): Annotations {
  const { [A.predicate]: userPredicate, [A.backendWeights]: _, [A.routingPredicate]: __, ...kept } = user;
  // The user's predicates, without the ones this router puts first.
  const predicates = (userPredicate ?? "")
    .split("&&")
    .map((p) => p.trim())
    .filter((p) => p !== "" && p !== PREFERRED && p !== DISABLED);
  const routing = [PREFERRED, ...predicates].join(" && ");
  return {
    ...kept,
    [A.backendWeights]: backendWeights(spec, routes),
    [A.predicate]: routes.canaryWeight > 0 ? routing : DISABLED,
    [A.routingPredicate]: routing,
  };
}

/** The weights of the backend-weights annotation; what is missing or unreadable counts as 0. */
function parse(spec: ResolvedCanarySpec, annotations: Annotations): Routes {
  const names = serviceNames(spec);
  let weights: unknown;
  try {
    weights = JSON.parse(annotations[A.backendWeights] ?? "{}");
  } catch {
    weights = {};
  }
  const weight = (name: string) => {
    const value =
      typeof weights === "object" && weights !== null
        ? (weights as Record<string, unknown>)[name]
        : undefined;
    return typeof value === "number" ? value : 0;
  };
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror: false };
}

async function writeRoutes(ctx: RouterContext, name: string, routes: Routes): Promise<void> {
  await ctx.kube.jsonPatch(RESOURCES.ingresses, ctx.namespace, name, [
    {
      op: "add",
      path: metadataPath("annotations", A.backendWeights),
      value: backendWeights(ctx.spec, routes),
    },
    routes.canaryWeight > 0
      ? {
          op: "copy",
          from: metadataPath("annotations", A.routingPredicate),
          path: metadataPath("annotations", A.predicate),
        }
      : { op: "add", path: metadataPath("annotations", A.predicate), value: DISABLED },
  ]);
}

export const skipperRouter = new IngressRouter({
  name: "skipper",
  check,
  spec: (spec, user) => {
    const names = serviceNames(spec);
    return rewritePaths(spec, user, (backend) => [
      toService(backend, names.primary),
      toService(backend, names.canary),
    ]);
  },
  annotations,
  parse,
  writeRoutes,
});
