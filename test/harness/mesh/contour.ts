/** TEST CODE ONLY: a Contour HTTPProxy's split, as Contour has Envoy apply it. */
import { ALL_TO_PRIMARY, classify, customSpec, type SplitReader, toSplit, type Weighted } from "./split.ts";

interface ProxyRoute {
  readonly conditions?: readonly { readonly header?: unknown; readonly queryParameter?: unknown }[];
  readonly services?: readonly {
    readonly name?: string;
    readonly weight?: number;
    readonly mirror?: boolean;
  }[];
}

const HTTP_PROXIES = { group: "projectcontour.io", version: "v1", plural: "httpproxies" };

export const readHttpProxySplit: SplitReader = async (app, clients) => {
  const spec = await customSpec(clients, app, HTTP_PROXIES, app.service);
  if (!spec) return ALL_TO_PRIMARY;
  const routes = (spec.routes ?? []) as readonly ProxyRoute[];
  const weighted = (route: ProxyRoute): Weighted[] => {
    const services = (route.services ?? []).filter((s) => s.mirror !== true);
    // Contour: an unset weight is 0, and a route whose weights are all 0 splits evenly.
    const even = services.every((s) => (s.weight ?? 0) === 0);
    return services.map((s) => ({ backend: classify(app, s.name), weight: even ? 1 : (s.weight ?? 0) }));
  };
  const conditional = (route: ProxyRoute) =>
    (route.conditions ?? []).some((c) => c.header !== undefined || c.queryParameter !== undefined);
  const abToCanary = routes.some(
    (route) => conditional(route) && weighted(route).some((w) => w.backend === "canary" && w.weight > 0),
  );
  const fallback = routes.find((route) => !conditional(route)) ?? routes.at(-1) ?? {};
  const mirror = (fallback.services ?? []).find((s) => s.mirror === true);
  // Contour mirrors everything when a mirror service's weight is unset or 0.
  const mirrorPercent = classify(app, mirror?.name) === "canary" ? mirror?.weight || 100 : 0;
  return toSplit(weighted(fallback), abToCanary, mirrorPercent);
};
