/** TEST CODE ONLY: a Gateway API HTTPRoute's split (v1 or v1beta1), as a Gateway applies it. */
import { ALL_TO_PRIMARY, classify, customSpec, type SplitReader, toSplit, type Weighted } from "./split.ts";

interface HttpRouteRule {
  readonly matches?: readonly {
    readonly headers?: readonly unknown[];
    readonly queryParams?: readonly unknown[];
  }[];
  readonly backendRefs?: readonly { readonly name?: string; readonly weight?: number }[];
  readonly filters?: readonly {
    readonly type?: string;
    readonly requestMirror?: { readonly backendRef?: { readonly name?: string }; readonly percent?: number };
  }[];
}

function httpRouteReader(version: "v1" | "v1beta1"): SplitReader {
  const resource = { group: "gateway.networking.k8s.io", version, plural: "httproutes" };
  return async (app, clients) => {
    const spec = await customSpec(clients, app, resource, app.service);
    if (!spec) return ALL_TO_PRIMARY;
    const rules = (spec.rules ?? []) as readonly HttpRouteRule[];
    // Gateway API: a backendRef without a weight has weight 1.
    const weighted = (rule: HttpRouteRule): Weighted[] =>
      (rule.backendRefs ?? []).map((b) => ({ backend: classify(app, b.name), weight: b.weight ?? 1 }));
    const conditional = (rule: HttpRouteRule) =>
      (rule.matches ?? []).some((m) => (m.headers?.length ?? 0) > 0 || (m.queryParams?.length ?? 0) > 0);
    const abToCanary = rules.some(
      (rule) => conditional(rule) && weighted(rule).some((w) => w.backend === "canary" && w.weight > 0),
    );
    const fallback = rules.find((rule) => !conditional(rule)) ?? rules.at(-1) ?? {};
    const mirror = (fallback.filters ?? []).find((f) => f.type === "RequestMirror")?.requestMirror;
    const mirrorPercent = classify(app, mirror?.backendRef?.name) === "canary" ? (mirror?.percent ?? 100) : 0;
    return toSplit(weighted(fallback), abToCanary, mirrorPercent);
  };
}

export const readHttpRouteSplit = httpRouteReader("v1");
export const readHttpRouteV1beta1Split = httpRouteReader("v1beta1");
