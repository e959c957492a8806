/**
 * Apache APISIX (`apisix`): the user's ApisixRoute (`routeRef`) has an HTTP rule whose one backend
 * is the apex Service. The operator never changes it: it creates a canary ApisixRoute,
 * `<routeRef>-<service>-canary`, with a copy of that rule at the highest priority (so APISIX picks
 * it over the original for the same requests) whose backends are the primary and canary Services,
 * split by weight. Canary and blue/green only: Flagger's APISIX router has no A/B testing,
 * mirroring or session affinity, and neither has this one.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";
import { invalidSpec, required } from "../errors.ts";
import { withoutTooling } from "../workload-primary.ts";
import { finalizeObject, type Placement, reconcileObject } from "./reconcile-object.ts";
import type { Router, RouterContext } from "./router.ts";
import { refuseUnsupported } from "./unsupported.ts";

/** Above any priority a user gives a rule, so the canary route's copy wins. */
const CANARY_PRIORITY = 10_000;

interface Backend {
  readonly serviceName?: string;
  readonly servicePort?: number | string;
  readonly resolveGranularity?: string;
  readonly subset?: string;
  readonly weight?: number;
}

interface HttpRule {
  readonly name?: string;
  readonly backends?: Backend[];
  readonly [key: string]: unknown;
}

function routeRef(spec: ResolvedCanarySpec): string {
  const name = spec.routeRef?.name;
  if (!name) {
    throw invalidSpec(
      `the apisix provider needs routeRef: set it to the ApisixRoute (apisix.apache.org/v2) that routes to Service ${serviceNames(spec).apex}`,
    );
  }
  return name;
}

/** Flagger's name: the builtin metrics find the canary's APISIX route by it. */
export function canaryRouteName(spec: ResolvedCanarySpec): string {
  return `${routeRef(spec)}-${serviceNames(spec).apex}-canary`;
}

/** The user's route and its rule for the apex Service. */
async function userRoute(ctx: RouterContext): Promise<{ route: KubeObject; rule: HttpRule }> {
  const name = routeRef(ctx.spec);
  const apex = serviceNames(ctx.spec).apex;
  const where = `ApisixRoute ${ctx.namespace}/${name} (routeRef)`;
  const route = await required(
    ctx.kube.get(RESOURCES.apisixRoutes, ctx.namespace, name),
    where,
    "create it, or fix routeRef",
  );
  const rules = (route.spec as { http?: HttpRule[] } | undefined)?.http ?? [];
  const rule = rules.find((r) => (r.backends ?? []).some((b) => b.serviceName === apex));
  if (!rule) {
    throw invalidSpec(`${where} has no http rule with a backend for Service ${apex}: add one`);
  }
  if ((rule.backends ?? []).length !== 1) {
    throw invalidSpec(
      `${where} rule ${rule.name ?? ""} has ${rule.backends?.length} backends; the apisix provider needs Service ${apex} as its only backend: move the others to a rule of their own`,
    );
  }
  return { route, rule };
}

export function buildCanaryRoute(
  spec: ResolvedCanarySpec,
  namespace: string,
  user: { route: KubeObject; rule: HttpRule },
  routes: Routes,
): KubeObject {
  const names = serviceNames(spec);
  const [original] = user.rule.backends ?? [];
  const backend = (serviceName: string, weight: number): Backend => ({ ...original, serviceName, weight });
  return {
    apiVersion: "apisix.apache.org/v2",
    kind: "ApisixRoute",
    metadata: {
      name: canaryRouteName(spec),
      namespace,
      // The route's ingress class and other settings travel with it.
      labels: withoutTooling(user.route.metadata?.labels),
      annotations: withoutTooling(user.route.metadata?.annotations),
    },
    spec: {
      http: [
        {
          ...user.rule,
          priority: CANARY_PRIORITY,
          backends: [
            backend(names.primary, routes.primaryWeight),
            backend(names.canary, routes.canaryWeight),
          ],
        },
      ],
    },
  };
}

export function parseCanaryRoute(spec: ResolvedCanarySpec, route: KubeObject): Routes {
  const names = serviceNames(spec);
  const [rule] = (route.spec as { http?: HttpRule[] } | undefined)?.http ?? [];
  const weight = (service: string) => rule?.backends?.find((b) => b.serviceName === service)?.weight ?? 0;
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror: false };
}

function canaryRoute(ctx: RouterContext): Placement {
  return { type: RESOURCES.apisixRoutes, namespace: ctx.namespace, name: canaryRouteName(ctx.spec) };
}

export const apisixRouter: Router = {
  async reconcile(ctx, owner) {
    refuseUnsupported(ctx.spec, "apisix");
    const user = await userRoute(ctx);
    await reconcileObject(ctx.kube, owner, canaryRoute(ctx), (current) =>
      buildCanaryRoute(
        ctx.spec,
        ctx.namespace,
        user,
        current ? parseCanaryRoute(ctx.spec, current) : PRIMARY_ONLY,
      ),
    );
  },

  /** Two requests: the user's route is read again, so the copy follows changes to it. */
  async setRoutes(ctx, routes) {
    refuseUnsupported(ctx.spec, "apisix");
    const user = await userRoute(ctx);
    const at = canaryRoute(ctx);
    await ctx.kube.apply(
      at.type,
      at.namespace,
      at.name,
      buildCanaryRoute(ctx.spec, ctx.namespace, user, routes),
    );
  },

  async getRoutes(ctx) {
    const at = canaryRoute(ctx);
    return parseCanaryRoute(ctx.spec, await ctx.kube.get(at.type, at.namespace, at.name));
  },

  async finalize(ctx, owner) {
    await finalizeObject(ctx.kube, owner, canaryRoute(ctx));
  },
};
