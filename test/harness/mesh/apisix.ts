/**
 * TEST CODE ONLY: APISIX's split for the app, as the gateway applies the ApisixRoutes of its
 * namespace. Every HTTP rule becomes an APISIX route; of the rules for the same requests the one
 * with the highest `priority` (0 when unset) serves them, the first on a tie. A rule's backends
 * share its traffic by relative weight (100 when unset); a rule with `match.exprs` serves only
 * the requests those expressions match.
 */
import { ALL_TO_PRIMARY, classify, type SplitReader, toSplit, type Weighted } from "./split.ts";

interface Rule {
  readonly priority?: number;
  readonly match?: { readonly exprs?: readonly unknown[] };
  readonly backends?: readonly { readonly serviceName?: string; readonly weight?: number }[];
}

const APISIX_ROUTES = { group: "apisix.apache.org", version: "v2", plural: "apisixroutes" };

export const readApisixRouteSplit: SplitReader = async (app, clients) => {
  const list = (await clients.custom.listNamespacedCustomObject({
    ...APISIX_ROUTES,
    namespace: app.namespace,
  })) as { items?: { spec?: { http?: Rule[] } }[] };
  const weighted = (rule: Rule): Weighted[] =>
    (rule.backends ?? []).map((b) => ({ backend: classify(app, b.serviceName), weight: b.weight ?? 100 }));
  // The app's rules: those with a backend of its Services, highest priority first (stable on ties).
  const rules = (list.items ?? [])
    .flatMap((route) => route.spec?.http ?? [])
    .filter((rule) => weighted(rule).some((w) => w.backend !== undefined))
    .sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
  const conditional = (rule: Rule) => (rule.match?.exprs?.length ?? 0) > 0;
  const fallback = rules.find((rule) => !conditional(rule));
  const abToCanary = rules.some(
    (rule) => conditional(rule) && weighted(rule).some((w) => w.backend === "canary" && w.weight > 0),
  );
  return fallback ? toSplit(weighted(fallback), abToCanary, 0) : { ...ALL_TO_PRIMARY, abToCanary };
};
