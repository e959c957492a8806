/**
 * TEST CODE ONLY: an SMI TrafficSplit's split, as a mesh that implements SMI applies it, for every
 * version. Backend weights are relative; v1alpha1 writes them as resource quantities ("500m",
 * "1"), later versions as integers, which are quantities too. From v1alpha3 on, `matches` name
 * HTTPRouteGroups: only requests matching one of their routes are split, every other request
 * goes to the root Service (the apex, which selects the primary).
 */
import { ALL_TO_PRIMARY, classify, customSpec, type SplitReader, toSplit } from "./split.ts";

interface TrafficSplitSpec {
  readonly backends?: readonly { readonly service?: string; readonly weight?: number | string }[];
  readonly matches?: readonly { readonly kind?: string; readonly name?: string }[];
}

interface Route {
  readonly pathRegex?: string;
  readonly methods?: readonly string[];
  readonly headers?: Record<string, string>;
}

const TRAFFIC_SPLITS = { group: "split.smi-spec.io", version: "v1alpha3", plural: "trafficsplits" };
const ROUTE_GROUPS = { group: "specs.smi-spec.io", version: "v1alpha3", plural: "httproutegroups" };

const MULTIPLIERS: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity ("100", "500m", "1k", "1e3") as a number; unreadable is 0. */
function quantity(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return 0;
  const parts = /^(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|([KMGTPE]i|[numkMGTPE])?)$/.exec(value.trim());
  if (!parts) return 0;
  const [, number, exponent, suffix] = parts;
  if (exponent !== undefined) return Number(number) * 10 ** Number(exponent);
  return Number(number) * (MULTIPLIERS[suffix ?? ""] ?? 0);
}

export const readTrafficSplit: SplitReader = async (app, clients) => {
  const spec = (await customSpec(clients, app, TRAFFIC_SPLITS, app.service)) as TrafficSplitSpec | undefined;
  if (!spec) return ALL_TO_PRIMARY;
  const weighted = (spec.backends ?? []).map((b) => ({
    backend: classify(app, b.service),
    weight: quantity(b.weight),
  }));
  const groups = (spec.matches ?? []).filter((m) => m.kind === "HTTPRouteGroup" && m.name !== undefined);
  if (groups.length === 0) return toSplit(weighted, false, 0);

  const routes: Route[] = [];
  for (const { name } of groups) {
    const group = await customSpec(clients, app, ROUTE_GROUPS, name as string);
    routes.push(...((group?.matches ?? []) as Route[]));
  }
  // A route without conditions matches every request: the split applies to all of them.
  const conditional = (route: Route) =>
    Object.keys(route.headers ?? {}).length > 0 ||
    route.pathRegex !== undefined ||
    (route.methods ?? []).some((m) => m !== "*");
  if (routes.some((route) => !conditional(route))) return toSplit(weighted, false, 0);
  const canary = weighted.some((w) => w.backend === "canary" && w.weight > 0);
  // No route (or no group found) matches nothing: everything stays on the root Service.
  return { ...ALL_TO_PRIMARY, abToCanary: routes.length > 0 && canary };
};
