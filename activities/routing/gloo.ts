/**
 * Gloo Edge (`gloo`): two Upstreams for the primary and canary Services,
 * `<namespace>-<service>-primaryupstream-<port>` and `…-canaryupstream-<port>` (with the
 * connection settings of the Upstream `upstreamRef` names, when set), and a RouteTable named
 * after the apex Service, for the user's VirtualService to delegate to. Its last route splits
 * traffic between the Upstreams by weight and shadows requests to the canary when mirroring.
 * A/B testing puts a route for requests matching `analysis.match` in front; session affinity,
 * routes for its cookies (set by the destinations' response headers). Routes inherit their path
 * from the delegating VirtualService, so conditions on the path are refused.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import { invalidSpec, required } from "../errors.ts";
import { withoutTooling } from "../workload-primary.ts";
import { type GatewayMatch, toGatewayMatch } from "./match.ts";
import { finalizeObject, type Placement, reconcileObject } from "./reconcile-object.ts";
import { compact, type Router, type RouterContext } from "./router.ts";
import { cookieRoutes, type StickyCookie, type StickySessions, stickySessions } from "./session-affinity.ts";

type Side = "primary" | "canary";

interface ResourceRef {
  readonly name?: string;
  readonly namespace?: string;
}

interface WeightedDestination {
  readonly destination?: { readonly upstream?: ResourceRef };
  readonly weight?: number;
}

interface Route {
  readonly matchers?: unknown[];
  readonly routeAction?: { readonly multi?: { readonly destinations?: WeightedDestination[] } };
  readonly options?: { readonly shadowing?: { readonly upstream?: ResourceRef } };
}

/** Flagger's names: the builtin metrics find the canary's Envoy cluster by them. */
export function upstreamName(spec: ResolvedCanarySpec, namespace: string, side: Side): string {
  return `${namespace}-${serviceNames(spec).apex}-${side}upstream-${spec.service.port}`;
}

/** An Upstream's ways to reach its hosts: the copy of upstreamRef gets the Service's instead. */
const UPSTREAM_TYPES = ["kube", "static", "pipe", "aws", "azure", "consul", "awsEc2", "gcp"];

/** The settings to copy from upstreamRef (TLS, circuit breakers, load balancing…), if it is set. */
async function configUpstream(ctx: RouterContext): Promise<Record<string, unknown>> {
  const ref = ctx.spec.upstreamRef;
  if (!ref) return {};
  const namespace = ref.namespace ?? ctx.namespace;
  const upstream = await required(
    ctx.kube.get(RESOURCES.glooUpstreams, namespace, ref.name),
    `Upstream ${namespace}/${ref.name} (upstreamRef)`,
    "create it, or fix or remove upstreamRef",
  );
  const spec = { ...(upstream.spec as Record<string, unknown> | undefined) };
  for (const type of UPSTREAM_TYPES) delete spec[type];
  return spec;
}

export function buildUpstream(
  spec: ResolvedCanarySpec,
  namespace: string,
  side: Side,
  config: Record<string, unknown>,
): KubeObject {
  const names = serviceNames(spec);
  return {
    apiVersion: "gloo.solo.io/v1",
    kind: "Upstream",
    metadata: { name: upstreamName(spec, namespace, side), namespace },
    spec: {
      ...config,
      kube: { serviceName: names[side], serviceNamespace: namespace, servicePort: spec.service.port },
    },
  };
}

/** One `analysis.match` condition as a Gloo matcher: headers, query parameters and method. */
function glooMatcher(match: GatewayMatch, field: string): Record<string, unknown> {
  if (match.path) {
    throw invalidSpec(
      `${field} matches on the path, which the gloo provider cannot do: the RouteTable's routes ` +
        "inherit their path from the VirtualService that delegates to it; match on headers, queryParams or method",
    );
  }
  const named = (values: GatewayMatch["headers"]) =>
    values?.map((v) =>
      compact({ name: v.name, value: v.value, regex: v.type === "RegularExpression" || undefined }),
    );
  return compact({
    headers: named(match.headers),
    queryParameters: named(match.queryParams),
    methods: match.method === undefined ? undefined : [match.method],
  });
}

/** The A/B route's matchers, one per `analysis.match` condition (any one sends to the canary). */
function abMatchers(spec: ResolvedCanarySpec): Record<string, unknown>[] {
  return spec.analysis.match.map((m, i) =>
    glooMatcher(toGatewayMatch(m, `analysis.match[${i}]`, "gloo"), `analysis.match[${i}]`),
  );
}

/** A response from this destination sets the cookie that keeps its user there (session affinity). */
function setsCookie(cookie: StickyCookie | undefined): Record<string, unknown> | undefined {
  if (!cookie) return undefined;
  return {
    headerManipulation: {
      responseHeadersToAdd: [{ header: { key: "Set-Cookie", value: cookie.setCookie }, append: true }],
    },
  };
}

/** `revision` is the canary's, for session-affinity cookies. */
export function buildRouteTable(
  spec: ResolvedCanarySpec,
  namespace: string,
  routes: Routes,
  revision?: string,
): KubeObject {
  const primary = upstreamName(spec, namespace, "primary");
  const canary = upstreamName(spec, namespace, "canary");
  const sticky = stickySessions(spec, revision, routes);
  const route = (matchers: Record<string, unknown>[], split: Routes, cookies?: StickySessions) =>
    compact({
      matchers,
      inheritablePathMatchers: true,
      routeAction: {
        multi: {
          destinations: [
            compact({
              destination: { upstream: { name: primary, namespace } },
              weight: split.primaryWeight,
              options: setsCookie(cookies?.primary),
            }),
            compact({
              destination: { upstream: { name: canary, namespace } },
              weight: split.canaryWeight,
              options: setsCookie(cookies?.canary),
            }),
          ],
        },
      },
      options: split.mirror
        ? {
            shadowing: {
              upstream: { name: canary, namespace },
              percentage: spec.analysis.mirrorWeight ?? 100,
            },
          }
        : undefined,
    });
  const list =
    spec.strategy.kind === "ab-testing"
      ? [route(abMatchers(spec), routes), route([], routeTo(0))]
      : [
          // Requests with a session cookie go where the cookie says, before the split.
          ...cookieRoutes(sticky).map(([cookie, split]) =>
            route([{ headers: [{ name: "Cookie", value: cookie.matchRegex, regex: true }] }], split),
          ),
          route([], routes, sticky),
        ];
  return {
    apiVersion: "gateway.solo.io/v1",
    kind: "RouteTable",
    metadata: {
      name: serviceNames(spec).apex,
      namespace,
      labels: spec.service.apex?.labels ?? {},
      annotations: withoutTooling(spec.service.apex?.annotations),
    },
    spec: { routes: list },
  };
}

/** The split: of the A/B route (the first) when testing A/B, else of the last (after cookie routes). */
export function parseRouteTable(spec: ResolvedCanarySpec, namespace: string, table: KubeObject): Routes {
  const list = (table.spec as { routes?: Route[] } | undefined)?.routes ?? [];
  const route = spec.strategy.kind === "ab-testing" ? list[0] : list.at(-1);
  const destinations = route?.routeAction?.multi?.destinations ?? [];
  const weight = (side: Side) =>
    destinations.find((d) => d.destination?.upstream?.name === upstreamName(spec, namespace, side))?.weight ??
    0;
  return {
    primaryWeight: weight("primary"),
    canaryWeight: weight("canary"),
    mirror: route?.options?.shadowing?.upstream?.name === upstreamName(spec, namespace, "canary"),
  };
}

function routeTable(ctx: RouterContext): Placement {
  return { type: RESOURCES.glooRouteTables, namespace: ctx.namespace, name: serviceNames(ctx.spec).apex };
}

function upstream(ctx: RouterContext, side: Side): Placement {
  return {
    type: RESOURCES.glooUpstreams,
    namespace: ctx.namespace,
    name: upstreamName(ctx.spec, ctx.namespace, side),
  };
}

export const glooRouter: Router = {
  async reconcile(ctx, owner) {
    // Conditions Gloo cannot express are refused before anything is written.
    if (ctx.spec.strategy.kind === "ab-testing") abMatchers(ctx.spec);
    const config = await configUpstream(ctx);
    // The Upstreams first: the RouteTable refers to them.
    for (const side of ["primary", "canary"] as const) {
      await reconcileObject(ctx.kube, owner, upstream(ctx, side), () =>
        buildUpstream(ctx.spec, ctx.namespace, side, config),
      );
    }
    await reconcileObject(ctx.kube, owner, routeTable(ctx), (current) =>
      buildRouteTable(
        ctx.spec,
        ctx.namespace,
        current ? parseRouteTable(ctx.spec, ctx.namespace, current) : PRIMARY_ONLY,
        ctx.revision,
      ),
    );
  },

  async setRoutes(ctx, routes) {
    const at = routeTable(ctx);
    await ctx.kube.apply(
      at.type,
      at.namespace,
      at.name,
      buildRouteTable(ctx.spec, ctx.namespace, routes, ctx.revision),
    );
  },

  async getRoutes(ctx) {
    const at = routeTable(ctx);
    return parseRouteTable(ctx.spec, ctx.namespace, await ctx.kube.get(at.type, at.namespace, at.name));
  },

  async finalize(ctx, owner) {
    for (const at of [routeTable(ctx), upstream(ctx, "primary"), upstream(ctx, "canary")]) {
      await finalizeObject(ctx.kube, owner, at);
    }
  },
};
