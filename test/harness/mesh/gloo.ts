/**
 * TEST CODE ONLY: a Gloo Edge RouteTable's split, as Gloo's Envoy applies it. The user's
 * VirtualService delegates to the RouteTable named after the apex Service; its routes are tried
 * in order and the first whose matchers match takes the request (no matchers: every request).
 * A destination is an Upstream, which reaches the Kubernetes Service its `kube` spec names; a
 * multi-destination route splits by relative weight; `options.shadowing` copies a percentage of
 * the route's requests to another Upstream.
 */
import {
  ALL_TO_PRIMARY,
  classify,
  customSpec,
  type RoutedApp,
  type Side,
  type SplitReader,
  toSplit,
  type Weighted,
} from "./split.ts";

interface Ref {
  readonly name?: string;
  readonly namespace?: string;
}

interface Route {
  readonly matchers?: readonly {
    readonly headers?: readonly unknown[];
    readonly queryParameters?: readonly unknown[];
    readonly methods?: readonly string[];
  }[];
  readonly routeAction?: {
    readonly single?: { readonly upstream?: Ref };
    readonly multi?: {
      readonly destinations?: readonly {
        readonly destination?: { readonly upstream?: Ref };
        readonly weight?: number;
      }[];
    };
  };
  readonly options?: { readonly shadowing?: { readonly upstream?: Ref; readonly percentage?: number } };
}

const ROUTE_TABLES = { group: "gateway.solo.io", version: "v1", plural: "routetables" };
const UPSTREAMS = { group: "gloo.solo.io", version: "v1", plural: "upstreams" };

export const readRouteTableSplit: SplitReader = async (app, clients) => {
  const spec = await customSpec(clients, app, ROUTE_TABLES, app.service);
  if (!spec) return ALL_TO_PRIMARY;
  const routes = (spec.routes ?? []) as readonly Route[];

  // Which Service each referenced Upstream reaches (undefined: a missing Upstream, or not a kube one).
  const sides = new Map<string, Side | undefined>();
  const side = async (ref: Ref | undefined): Promise<Side | undefined> => {
    if (ref?.name === undefined) return undefined;
    const at: RoutedApp = { ...app, namespace: ref.namespace ?? app.namespace };
    const key = `${at.namespace}/${ref.name}`;
    if (!sides.has(key)) {
      const upstream = await customSpec(clients, at, UPSTREAMS, ref.name);
      const kube = upstream?.kube as { serviceName?: string; serviceNamespace?: string } | undefined;
      sides.set(key, kube?.serviceNamespace === app.namespace ? classify(app, kube.serviceName) : undefined);
    }
    return sides.get(key);
  };
  const weighted = async (route: Route): Promise<Weighted[]> => {
    const action = route.routeAction;
    if (action?.single) return [{ backend: await side(action.single.upstream), weight: 100 }];
    return Promise.all(
      (action?.multi?.destinations ?? []).map(async (d) => ({
        backend: await side(d.destination?.upstream),
        weight: d.weight ?? 0,
      })),
    );
  };
  // Only the path (inherited from the VirtualService) constrains a route without these.
  const conditional = (route: Route) =>
    (route.matchers ?? []).some(
      (m) =>
        (m.headers?.length ?? 0) > 0 || (m.queryParameters?.length ?? 0) > 0 || (m.methods?.length ?? 0) > 0,
    );

  let abToCanary = false;
  for (const route of routes.filter(conditional)) {
    if ((await weighted(route)).some((w) => w.backend === "canary" && w.weight > 0)) abToCanary = true;
  }
  const fallback = routes.find((route) => !conditional(route));
  if (!fallback) return { ...ALL_TO_PRIMARY, abToCanary };
  const shadowing = fallback.options?.shadowing;
  const mirrorPercent = (await side(shadowing?.upstream)) === "canary" ? (shadowing?.percentage ?? 0) : 0;
  return toSplit(await weighted(fallback), abToCanary, mirrorPercent);
};
