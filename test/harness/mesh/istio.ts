/** TEST CODE ONLY: an Istio VirtualService's split, as Istio's proxies apply it. */
import { ALL_TO_PRIMARY, classify, customSpec, type SplitReader, toSplit, type Weighted } from "./split.ts";

interface VirtualServiceHttp {
  readonly match?: readonly unknown[];
  readonly route?: readonly { readonly destination?: { readonly host?: string }; readonly weight?: number }[];
  readonly mirror?: { readonly host?: string };
  readonly mirrorPercentage?: { readonly value?: number };
}

const VIRTUAL_SERVICES = { group: "networking.istio.io", version: "v1", plural: "virtualservices" };

export const readVirtualServiceSplit: SplitReader = async (app, clients) => {
  const spec = await customSpec(clients, app, VIRTUAL_SERVICES, app.service);
  if (!spec) return ALL_TO_PRIMARY;
  const http = (spec.http ?? []) as readonly VirtualServiceHttp[];
  const weighted = (entry: VirtualServiceHttp): Weighted[] => {
    const routes = entry.route ?? [];
    // Istio: a single destination without a weight takes all the traffic.
    return routes.map((r) => ({
      backend: classify(app, r.destination?.host),
      weight: r.weight ?? (routes.length === 1 ? 100 : 0),
    }));
  };
  const abToCanary = http.some(
    (entry) =>
      (entry.match?.length ?? 0) > 0 && weighted(entry).some((w) => w.backend === "canary" && w.weight > 0),
  );
  const fallback = http.find((entry) => (entry.match?.length ?? 0) === 0) ?? http.at(-1) ?? {};
  const mirrorPercent =
    classify(app, fallback.mirror?.host) === "canary" ? (fallback.mirrorPercentage?.value ?? 100) : 0;
  return toSplit(weighted(fallback), abToCanary, mirrorPercent);
};
