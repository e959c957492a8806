/**
 * Traefik (`traefik`): a weighted TraefikService named after the apex Service, which the user's
 * IngressRoute sends traffic to, balancing between the primary and canary Services. Traefik
 * routes by the IngressRoute's rules, which the operator does not write, so, as with Flagger's
 * Traefik router, A/B testing and mirroring are refused rather than silently left out.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { invalidSpec } from "../errors.ts";
import { withoutTooling } from "../workload-primary.ts";
import { ObjectRouter, type RouterContext } from "./router.ts";

interface Backend {
  readonly name: string;
  readonly weight?: number;
}

const INSTEAD = "or use the contour, istio or gatewayapi:v1 provider";

function checkSupported(spec: ResolvedCanarySpec): void {
  if (spec.analysis.match.length > 0) {
    throw invalidSpec(
      `analysis.match (A/B testing) is not supported by the traefik provider, whose TraefikService only splits by weight: remove analysis.match, ${INSTEAD}`,
    );
  }
  if (spec.analysis.mirror) {
    throw invalidSpec(
      `analysis.mirror is not supported by the traefik provider, whose TraefikService only splits by weight: remove analysis.mirror, ${INSTEAD}`,
    );
  }
  if (spec.analysis.sessionAffinity !== undefined) {
    throw invalidSpec(
      "analysis.sessionAffinity is not supported by the traefik provider: remove it, or use the istio or gatewayapi:v1 provider",
    );
  }
}

export function buildTraefikService(spec: ResolvedCanarySpec, namespace: string, routes: Routes): KubeObject {
  checkSupported(spec);
  const names = serviceNames(spec);
  const backend = (name: string, weight: number) => ({ name, namespace, port: spec.service.port, weight });
  return {
    apiVersion: "traefik.io/v1alpha1",
    kind: "TraefikService",
    metadata: {
      name: names.apex,
      namespace,
      labels: spec.service.apex?.labels ?? {},
      annotations: withoutTooling(spec.service.apex?.annotations),
    },
    spec: {
      weighted: {
        services: [
          backend(names.primary, routes.primaryWeight),
          // Traefik refuses a TraefikService one of whose Services has no endpoints, as the canary
          // has while scaled to zero: at weight 0 it is left out, as Flagger does.
          ...(routes.canaryWeight > 0 ? [backend(names.canary, routes.canaryWeight)] : []),
        ],
      },
    },
  };
}

export function parseTraefikService(spec: ResolvedCanarySpec, object: KubeObject): Routes {
  const names = serviceNames(spec);
  const services =
    (object.spec as { weighted?: { services?: Backend[] } } | undefined)?.weighted?.services ?? [];
  const weight = (name: string) => services.find((s) => s.name === name)?.weight ?? 0;
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror: false };
}

export const traefikRouter = new ObjectRouter(
  (ctx: RouterContext) => ({
    weighted: {
      type: RESOURCES.traefikServices,
      name: serviceNames(ctx.spec).apex,
      build: (routes: Routes) => buildTraefikService(ctx.spec, ctx.namespace, routes),
    },
    others: [],
  }),
  (ctx, object) => parseTraefikService(ctx.spec, object),
);
