/**
 * TEST CODE ONLY: Kuma's traffic split for the app, as its data plane proxies apply it. Kuma
 * names a Kubernetes Service port by the tag `kuma.io/service: <service>_<namespace>_svc_<port>`.
 * Of the mesh's TrafficRoutes (cluster-scoped), the one whose destination selector names the apex
 * Service's tag applies (a `*` destination is less specific and loses); its `conf.split` sends
 * traffic to each tagged destination by relative weight, `conf.destination` all of it to one.
 * With no route for the apex, traffic goes to the apex Service itself, which selects the primary.
 */
import { ALL_TO_PRIMARY, classify, type RoutedApp, type Side, type SplitReader, toSplit } from "./split.ts";

type Tags = Readonly<Record<string, string>>;

interface TrafficRoute {
  readonly spec?: {
    readonly sources?: readonly { readonly match?: Tags }[];
    readonly destinations?: readonly { readonly match?: Tags }[];
    readonly conf?: {
      readonly split?: readonly { readonly weight?: number; readonly destination?: Tags }[];
      readonly destination?: Tags;
    };
  };
}

const SERVICE_TAG = "kuma.io/service";
const TRAFFIC_ROUTES = { group: "kuma.io", version: "v1alpha1", plural: "trafficroutes" };

/** The side a `kuma.io/service` tag of this app's namespace and port names. */
function sideOf(app: RoutedApp, tags: Tags | undefined): Side | undefined {
  const parts = /^(.+)_([^_]+)_svc_(\d+)$/.exec(tags?.[SERVICE_TAG] ?? "");
  if (!parts || parts[2] !== app.namespace || Number(parts[3]) !== app.port) return undefined;
  return classify(app, parts[1]);
}

export const readTrafficRouteSplit: SplitReader = async (app, clients) => {
  const list = (await clients.custom.listClusterCustomObject(TRAFFIC_ROUTES)) as { items?: TrafficRoute[] };
  const apex = `${app.service}_${app.namespace}_svc_${app.port}`;
  // The load generator is any source: only routes for every source apply to it.
  const fromAnywhere = (route: TrafficRoute) =>
    (route.spec?.sources ?? []).some((s) => s.match?.[SERVICE_TAG] === "*");
  const to = (route: TrafficRoute, tag: string) =>
    (route.spec?.destinations ?? []).some((d) => d.match?.[SERVICE_TAG] === tag);
  const routes = (list.items ?? []).filter(fromAnywhere);
  const route = routes.find((r) => to(r, apex));
  const conf = route?.spec?.conf;
  if (!conf) return ALL_TO_PRIMARY;
  if (conf.split) {
    return toSplit(
      conf.split.map((s) => ({ backend: sideOf(app, s.destination), weight: s.weight ?? 0 })),
      false,
      0,
    );
  }
  return toSplit([{ backend: sideOf(app, conf.destination), weight: 100 }], false, 0);
};
