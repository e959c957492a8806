/**
 * Plain Kubernetes (`kubernetes`): no weights, only blue/green, by switching the apex Service's
 * selector between the primary's pods and the canary's. The Services themselves are reconciled
 * (and reverted on deletion) by services.ts, as for every provider.
 */
import type { V1Service } from "@kubernetes/client-node";
import { serviceNames } from "../../src/api/defaults.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { invalidSpec } from "../errors.ts";
import { buildService, servicePorts } from "../services.ts";
import { readTarget, targetLabel } from "../workload.ts";
import { PRIMARY_SUFFIX } from "../workload-primary.ts";
import type { Router, RouterContext } from "./router.ts";

export const kubernetesRouter: Router = {
  async reconcile(): Promise<void> {},

  async setRoutes(ctx: RouterContext, routes: Routes): Promise<void> {
    const toCanary = routes.canaryWeight === 100 && routes.primaryWeight === 0;
    const toPrimary = routes.primaryWeight === 100 && routes.canaryWeight === 0;
    if (routes.mirror || (!toCanary && !toPrimary)) {
      throw invalidSpec(
        `the kubernetes provider can only send all traffic to the primary or to the canary, not ` +
          `${routes.primaryWeight}/${routes.canaryWeight}${routes.mirror ? " with mirroring" : ""}: ` +
          "use analysis.iterations (blue/green) or choose a mesh or gateway provider",
      );
    }
    const target = await readTarget(ctx.kube, ctx.namespace, ctx.spec);
    const label = targetLabel(target, ctx.settings);
    const apex = buildService(
      ctx.spec,
      ctx.namespace,
      "apex",
      label,
      servicePorts(ctx.spec, target),
      toCanary,
    );
    await ctx.kube.apply(RESOURCES.services, ctx.namespace, serviceNames(ctx.spec).apex, apex);
  },

  async getRoutes(ctx: RouterContext): Promise<Routes> {
    const apex = await ctx.kube.get<V1Service>(
      RESOURCES.services,
      ctx.namespace,
      serviceNames(ctx.spec).apex,
    );
    const selector = apex.spec?.selector ?? {};
    const key = ctx.settings.selectorLabels.find((k) => selector[k] !== undefined);
    const value = key === undefined ? undefined : selector[key];
    // The primary's pods carry the target's label value with "-primary"; anything else is the canary.
    return value === undefined || value.endsWith(PRIMARY_SUFFIX) ? routeTo(0) : routeTo(100);
  },

  async finalize(): Promise<void> {},
};
