/**
 * TEST CODE ONLY: an App Mesh virtual router's split, as App Mesh's Envoys apply it. The routes of
 * the apex host live in the v1beta1 VirtualService named after the host (`<service>.<namespace>`),
 * or in the v1beta2 VirtualRouter named after the Service. A request takes the first route that
 * matches it, routes being tried from the lowest priority number up; a route's weighted targets
 * share its requests in proportion to their weights.
 */
import { ALL_TO_PRIMARY, classify, customSpec, type SplitReader, toSplit, type Weighted } from "./split.ts";

interface RouteBody {
  readonly match?: { readonly headers?: readonly unknown[] };
  readonly action?: {
    readonly weightedTargets?: readonly {
      readonly virtualNodeName?: string;
      readonly virtualNodeRef?: { readonly name?: string };
      readonly weight?: number;
    }[];
  };
}

interface MeshRoute {
  readonly priority?: number;
  readonly http?: RouteBody;
  readonly httpRoute?: RouteBody;
}

/** App Mesh priorities run from 0 to 1000; a route without one comes after those with one. */
const UNPRIORITIZED = 1001;

function appMeshReader(version: "v1beta1" | "v1beta2"): SplitReader {
  const resource =
    version === "v1beta1"
      ? { group: "appmesh.k8s.aws", version, plural: "virtualservices" }
      : { group: "appmesh.k8s.aws", version, plural: "virtualrouters" };
  return async (app, clients) => {
    const name = version === "v1beta1" ? `${app.service}.${app.namespace}` : app.service;
    const spec = await customSpec(clients, app, resource, name);
    if (!spec) return ALL_TO_PRIMARY;
    const routes = [...((spec.routes ?? []) as readonly MeshRoute[])].sort(
      (a, b) => (a.priority ?? UNPRIORITIZED) - (b.priority ?? UNPRIORITIZED),
    );
    const body = (route: MeshRoute) => route.http ?? route.httpRoute ?? {};
    const weighted = (route: MeshRoute): Weighted[] =>
      (body(route).action?.weightedTargets ?? []).map((t) => ({
        backend: classify(app, t.virtualNodeName ?? t.virtualNodeRef?.name),
        weight: t.weight ?? 0,
      }));
    const conditional = (route: MeshRoute) => (body(route).match?.headers?.length ?? 0) > 0;
    const abToCanary = routes.some(
      (route) => conditional(route) && weighted(route).some((w) => w.backend === "canary" && w.weight > 0),
    );
    // App Mesh has no mirroring.
    const fallback = routes.find((route) => !conditional(route)) ?? routes.at(-1) ?? {};
    return toSplit(weighted(fallback), abToCanary, 0);
  };
}

export const readAppMeshV1beta1Split = appMeshReader("v1beta1");
export const readAppMeshV1beta2Split = appMeshReader("v1beta2");
