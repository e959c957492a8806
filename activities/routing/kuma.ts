/**
 * Kuma (`kuma`): a TrafficRoute named after the apex Service, in the mesh the Canary's
 * `kuma.io/mesh` annotation names ("default" without it), that splits traffic from every service to
 * the apex Service's `kuma.io/service` tag between the primary's and the canary's by weight.
 * Canary and blue/green only: Flagger's Kuma router has no A/B testing, mirroring or session
 * affinity, and neither has this one.
 *
 * TrafficRoutes are cluster-scoped and cannot have a namespaced owner, so the Canary marks the one
 * it creates with an annotation instead: it deletes that one on finalize (with revertOnDeletion;
 * otherwise the route outlives the Canary, as in Flagger), refuses one another live Canary made,
 * and reclaims one whose Canary is gone.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import type { CanaryIdentity } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";
import { invalidSpec } from "../errors.ts";
import { readCanary } from "../ownership.ts";
import { withoutTooling } from "../workload-primary.ts";
import { finalizeObject, type ObjectOptions, type Placement, reconcileObject } from "./reconcile-object.ts";
import type { Router, RouterContext } from "./router.ts";
import { refuseUnsupported } from "./unsupported.ts";

/** On the Canary: the mesh its TrafficRoute belongs to (Flagger's key). */
export const MESH_ANNOTATION = "kuma.io/mesh";
const DEFAULT_MESH = "default";

/** On a TrafficRoute the operator created: `<namespace>/<name>/<uid>` of its Canary. */
export const OWNER_ANNOTATION = "durable-canary.io/owner-canary";

const SERVICE_TAG = "kuma.io/service";

interface Split {
  readonly weight?: number;
  readonly destination?: Record<string, string>;
}

/** Kuma's tag for a Kubernetes Service port: `<service>_<namespace>_svc_<port>`. */
export function serviceTag(service: string, namespace: string, port: number): string {
  return `${service}_${namespace}_svc_${port}`;
}

function ownerValue(namespace: string, owner: CanaryIdentity): string {
  return `${namespace}/${owner.name}/${owner.uid}`;
}

function ownership(namespace: string): ObjectOptions {
  const marker = (object: KubeObject) => object.metadata?.annotations?.[OWNER_ANNOTATION];
  return {
    fields: ["mesh", "spec"],
    ownership: {
      isManaged: (object, owner) => marker(object) === ownerValue(namespace, owner),
      // A merge patch, not part of the applies: setRoutes, which knows no Canary, can never drop it.
      adopt: async (kube, at, _object, owner) => {
        await kube.mergePatch(at.type, at.namespace, at.name, {
          metadata: { annotations: { [OWNER_ANNOTATION]: ownerValue(namespace, owner) } },
        });
      },
      refuseForeign: async (kube, object, owner) => {
        const value = marker(object);
        if (value === undefined || value === ownerValue(namespace, owner)) return false;
        const [otherNamespace = "", otherName = "", otherUid] = value.split("/");
        // Left behind by a Canary deleted without revertOnDeletion (or recreated): this one takes it.
        const other = await kube.find<{ metadata: { uid?: string } }>(
          RESOURCES.canaries,
          otherNamespace,
          otherName,
        );
        if (other?.metadata.uid !== otherUid) return true;
        throw invalidSpec(
          `TrafficRoute ${object.metadata?.name} belongs to Canary ${otherNamespace}/${otherName}: TrafficRoutes ` +
            "are cluster-wide and named after the apex Service: set service.name to a name no other Canary uses",
        );
      },
    },
  };
}

export function buildTrafficRoute(
  spec: ResolvedCanarySpec,
  namespace: string,
  mesh: string,
  routes: Routes,
): KubeObject {
  const names = serviceNames(spec);
  const port = spec.service.port;
  const split = (service: string, weight: number) => ({
    weight,
    destination: { [SERVICE_TAG]: serviceTag(service, namespace, port) },
  });
  return {
    apiVersion: "kuma.io/v1alpha1",
    kind: "TrafficRoute",
    metadata: {
      name: names.apex,
      labels: spec.service.apex?.labels ?? {},
      annotations: withoutTooling(spec.service.apex?.annotations),
    },
    mesh,
    spec: {
      sources: [{ match: { [SERVICE_TAG]: "*" } }],
      destinations: [{ match: { [SERVICE_TAG]: serviceTag(names.apex, namespace, port) } }],
      conf: {
        split: [split(names.primary, routes.primaryWeight), split(names.canary, routes.canaryWeight)],
      },
    },
  };
}

export function parseTrafficRoute(spec: ResolvedCanarySpec, namespace: string, route: KubeObject): Routes {
  const names = serviceNames(spec);
  const splits = (route.spec as { conf?: { split?: Split[] } } | undefined)?.conf?.split ?? [];
  const weight = (service: string) =>
    splits.find((s) => s.destination?.[SERVICE_TAG] === serviceTag(service, namespace, spec.service.port))
      ?.weight ?? 0;
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror: false };
}

function trafficRoute(ctx: RouterContext): Placement {
  return { type: RESOURCES.kumaTrafficRoutes, namespace: "", name: serviceNames(ctx.spec).apex };
}

export const kumaRouter: Router = {
  async reconcile(ctx, owner) {
    refuseUnsupported(ctx.spec, "kuma");
    const canary = await readCanary(ctx.kube, { namespace: ctx.namespace, name: owner.name });
    const mesh = canary.metadata.annotations?.[MESH_ANNOTATION] ?? DEFAULT_MESH;
    await reconcileObject(
      ctx.kube,
      owner,
      trafficRoute(ctx),
      (current) =>
        buildTrafficRoute(
          ctx.spec,
          ctx.namespace,
          mesh,
          current ? parseTrafficRoute(ctx.spec, ctx.namespace, current) : PRIMARY_ONLY,
        ),
      ownership(ctx.namespace),
    );
  },

  /** Two requests: the route is read for the mesh reconcile gave it, which the apply must repeat. */
  async setRoutes(ctx, routes) {
    refuseUnsupported(ctx.spec, "kuma");
    const at = trafficRoute(ctx);
    const current = await ctx.kube.get(at.type, at.namespace, at.name);
    const mesh = typeof current.mesh === "string" ? current.mesh : DEFAULT_MESH;
    await ctx.kube.apply(
      at.type,
      at.namespace,
      at.name,
      buildTrafficRoute(ctx.spec, ctx.namespace, mesh, routes),
    );
  },

  async getRoutes(ctx) {
    const at = trafficRoute(ctx);
    return parseTrafficRoute(ctx.spec, ctx.namespace, await ctx.kube.get(at.type, at.namespace, at.name));
  },

  async finalize(ctx, owner) {
    await finalizeObject(ctx.kube, owner, trafficRoute(ctx), ownership(ctx.namespace));
  },
};
