/**
 * Knative Serving (`knative`): the target is a Knative Service and the split is its own
 * `spec.traffic`, between the revision last promoted and the latest revision, by percent. Nothing
 * is created. The primary revision is named by the Service's `flagger.app/primary-revision`
 * annotation (Flagger's, so a Service Flagger ran keeps its primary); reconcile sets it, once, to
 * the latest created revision and pins all traffic there, after recording the Service's own
 * traffic for finalize. Knative splits by percent only: A/B testing, mirroring and session
 * affinity are refused.
 */

import { type CanaryIdentity, ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { retryOnConflict } from "../../src/kube/retry.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";
import { notReady, required } from "../errors.ts";
import { originalOf, recordOriginal } from "../ownership.ts";
import type { Router, RouterContext } from "./router.ts";
import { refuseUnsupported } from "./unsupported.ts";

/** The revision last promoted: the primary. */
export const PRIMARY_REVISION_ANNOTATION = "flagger.app/primary-revision";

interface TrafficTarget {
  readonly revisionName?: string;
  readonly latestRevision?: boolean;
  readonly percent?: number;
  readonly tag?: string;
}

export interface KnativeService {
  readonly metadata?: {
    readonly name?: string;
    readonly annotations?: Record<string, string>;
    readonly resourceVersion?: string;
  };
  readonly spec?: { readonly traffic?: TrafficTarget[] };
  readonly status?: { readonly latestCreatedRevisionName?: string };
}

export function readKnativeService(
  ctx: Pick<RouterContext, "kube" | "namespace" | "spec">,
): Promise<KnativeService> {
  const { name } = ctx.spec.targetRef;
  return required(
    ctx.kube.get<KnativeService>(RESOURCES.knativeServices, ctx.namespace, name),
    `Knative Service ${ctx.namespace}/${name} (spec.targetRef)`,
    "create it, or point spec.targetRef.name at an existing Knative Service",
  );
}

/** The Service's traffic from before the operator pinned it, given back on finalize. */
interface Original {
  readonly traffic?: TrafficTarget[];
}

export function primaryRevision(
  ctx: Pick<RouterContext, "namespace" | "spec">,
  service: KnativeService,
): string {
  const revision = service.metadata?.annotations?.[PRIMARY_REVISION_ANNOTATION];
  if (revision === undefined) {
    throw notReady(
      `Knative Service ${ctx.namespace}/${ctx.spec.targetRef.name} has no ${PRIMARY_REVISION_ANNOTATION} annotation: the canary is not initialized yet`,
    );
  }
  return revision;
}

/**
 * One apply of the annotation and the traffic: the latest revision (the canary) first, then the
 * primary, as Flagger writes them. Both fields in every apply, so neither is ever dropped.
 */
async function applyTraffic(ctx: RouterContext, primary: string, routes: Routes): Promise<void> {
  const { name } = ctx.spec.targetRef;
  await ctx.kube.apply(RESOURCES.knativeServices, ctx.namespace, name, {
    metadata: { name, namespace: ctx.namespace, annotations: { [PRIMARY_REVISION_ANNOTATION]: primary } },
    spec: {
      traffic: [
        { latestRevision: true, percent: routes.canaryWeight },
        { revisionName: primary, latestRevision: false, percent: routes.primaryWeight },
      ],
    },
  });
}

function routesOf(service: KnativeService, primary: string): Routes {
  const traffic = service.spec?.traffic ?? [];
  const percent = (targets: TrafficTarget[]) => targets.reduce((sum, t) => sum + (t.percent ?? 0), 0);
  return {
    primaryWeight: percent(traffic.filter((t) => !t.latestRevision && t.revisionName === primary)),
    canaryWeight: percent(traffic.filter((t) => t.latestRevision === true)),
    mirror: false,
  };
}

/**
 * Promotion: `revision` becomes the primary. The split keeps its weights, its primary part now
 * on the promoted revision, so the routes read back the same until the workflow moves them.
 */
export async function promoteRevision(ctx: RouterContext, revision: string): Promise<void> {
  const service = await readKnativeService(ctx);
  await applyTraffic(ctx, revision, routesOf(service, primaryRevision(ctx, service)));
}

export const knativeRouter: Router = {
  /** Pins the latest created revision as the primary, once: later calls keep the traffic as it is. */
  async reconcile(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    refuseUnsupported(ctx.spec, "knative");
    const service = await readKnativeService(ctx);
    if (service.metadata?.annotations?.[PRIMARY_REVISION_ANNOTATION] !== undefined) return;
    const latest = service.status?.latestCreatedRevisionName;
    if (latest === undefined) {
      throw notReady(
        `Knative Service ${ctx.namespace}/${ctx.spec.targetRef.name} has no revision yet: waiting for Knative to create one`,
      );
    }
    const original: Original = { traffic: service.spec?.traffic };
    await recordOriginal(ctx.kube, RESOURCES.knativeServices, service, owner, original);
    await applyTraffic(ctx, latest, PRIMARY_ONLY);
  },

  async setRoutes(ctx: RouterContext, routes: Routes): Promise<void> {
    refuseUnsupported(ctx.spec, "knative");
    await applyTraffic(ctx, primaryRevision(ctx, await readKnativeService(ctx)), routes);
  },

  /** The split the Service asks for (its spec; Knative's status follows once its routes are programmed). */
  async getRoutes(ctx: RouterContext): Promise<Routes> {
    const service = await readKnativeService(ctx);
    return routesOf(service, primaryRevision(ctx, service));
  },

  /** Gives back the traffic the Service had and removes the annotations. */
  async finalize(ctx: RouterContext): Promise<void> {
    const { name } = ctx.spec.targetRef;
    await retryOnConflict(async () => {
      const service = await ctx.kube.find<KnativeService>(RESOURCES.knativeServices, ctx.namespace, name);
      const annotations = service?.metadata?.annotations ?? {};
      if (
        !(PRIMARY_REVISION_ANNOTATION in annotations) &&
        !(ORIGINAL_CONFIGURATION_ANNOTATION in annotations)
      ) {
        return;
      }
      const original = service && originalOf<Original>(service);
      await ctx.kube.mergePatch(RESOURCES.knativeServices, ctx.namespace, name, {
        metadata: {
          resourceVersion: service?.metadata?.resourceVersion,
          annotations: { [PRIMARY_REVISION_ANNOTATION]: null, [ORIGINAL_CONFIGURATION_ANNOTATION]: null },
        },
        ...(original ? { spec: { traffic: original.traffic ?? null } } : {}),
      });
    });
  },
};
