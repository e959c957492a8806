/**
 * Istio (`istio`): a VirtualService named after the apex Service, for the apex host plus
 * `service.hosts` on `service.gateways`, with one HTTP route splitting traffic between the
 * primary and canary hosts by weight (mirroring with `mirror` and `mirrorPercentage`); A/B testing
 * puts a route for requests matching `analysis.match` in front, session affinity routes for its
 * cookies (set by the destinations' response headers). Retries, timeout, headers,
 * corsPolicy, rewrite and matches come from `spec.service`. DestinationRules for the primary and
 * canary hosts carry `service.trafficPolicy`. A port with `service.appProtocol: tcp` gets one TCP
 * route instead, as in Flagger: weights only, matched by the ports of `service.match`.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { withoutTooling } from "../workload-primary.ts";
import { combine, type IstioMatch, mergeIstio, toIstioMatch } from "./match.ts";
import { compact, ObjectRouter, type RouterContext } from "./router.ts";
import { cookieRoutes, type StickyCookie, type StickySessions, stickySessions } from "./session-affinity.ts";

interface Destination {
  readonly destination: { readonly host: string; readonly port?: { readonly number: number } };
  readonly weight?: number;
  readonly headers?: unknown;
}

interface HttpRoute {
  readonly match?: IstioMatch[];
  readonly route?: Destination[];
  readonly mirror?: { readonly host: string };
}

function metadata(spec: ResolvedCanarySpec, namespace: string, name: string): Record<string, unknown> {
  return {
    name,
    namespace,
    labels: spec.service.apex?.labels ?? {},
    annotations: withoutTooling(spec.service.apex?.annotations),
  };
}

/** Flagger routes a service whose appProtocol is tcp (any case) at layer 4. */
export function isTcp(spec: ResolvedCanarySpec): boolean {
  return spec.service.appProtocol?.toLowerCase() === "tcp";
}

/**
 * A destination names the Service's port where Flagger's do: with port discovery behind a gateway
 * or a delegating VirtualService, where the Services have several ports and the request came on
 * the gateway's. Elsewhere Istio takes the Service's only port (in the mesh, the port the request
 * was sent to), and a VirtualService Flagger wrote reads as this one: a takeover leaves it alone.
 */
function destination(spec: ResolvedCanarySpec, host: string): Destination["destination"] {
  const { portDiscovery, gateways = [], delegation } = spec.service;
  const fromGateway = gateways.length > 0 && gateways[0] !== "mesh";
  return portDiscovery && (fromGateway || delegation)
    ? { host, port: { number: spec.service.port } }
    : { host };
}

/** The one TCP route: the split by weight, for the ports `service.match` names (all when none). */
function tcpRoute(spec: ResolvedCanarySpec, routes: Routes): HttpRoute {
  const names = serviceNames(spec);
  const ports = (spec.service.match ?? []).flatMap((m) => (m.port === undefined ? [] : [{ port: m.port }]));
  return compact({
    match: ports.length > 0 ? (ports as IstioMatch[]) : undefined,
    route: [
      { destination: destination(spec, names.primary), weight: routes.primaryWeight },
      { destination: destination(spec, names.canary), weight: routes.canaryWeight },
    ],
  });
}

/** A response from this destination sets the cookie that keeps its user there (session affinity). */
function setsCookie(cookie: StickyCookie | undefined): unknown {
  return cookie ? { response: { add: { "Set-Cookie": cookie.setCookie } } } : undefined;
}

/** `revision` is the canary's, for session-affinity cookies. */
export function buildVirtualService(
  spec: ResolvedCanarySpec,
  namespace: string,
  routes: Routes,
  revision?: string,
): KubeObject {
  const names = serviceNames(spec);
  const service = spec.service;
  // A delegate VirtualService is included by another one, which owns hosts and gateways. As in
  // Flagger, the apex host follows the user's, unless they name it or a wildcard.
  const userHosts = service.hosts ?? [];
  const hosts = service.delegation
    ? undefined
    : userHosts.some((h) => h === names.apex || h === "*")
      ? userHosts
      : [...userHosts, names.apex];
  const gateways = service.delegation ? undefined : service.gateways;
  if (isTcp(spec)) {
    return {
      apiVersion: "networking.istio.io/v1beta1",
      kind: "VirtualService",
      metadata: metadata(spec, namespace, names.apex),
      spec: compact({ hosts, gateways, tcp: [tcpRoute(spec, routes)] }),
    };
  }
  const sticky = stickySessions(spec, revision, routes);
  const serviceMatches = (service.match ?? []).map(toIstioMatch);
  const rewrite =
    service.rewrite === undefined
      ? undefined
      : compact({ uri: service.rewrite.uri, authority: service.rewrite.authority });
  const http = (match: IstioMatch[], split: Routes, cookies?: StickySessions): HttpRoute =>
    compact({
      match,
      rewrite,
      timeout: service.timeout,
      retries: service.retries,
      headers: service.headers,
      corsPolicy: service.corsPolicy,
      route: [
        compact({
          destination: destination(spec, names.primary),
          weight: split.primaryWeight,
          headers: setsCookie(cookies?.primary),
        }),
        compact({
          destination: destination(spec, names.canary),
          weight: split.canaryWeight,
          headers: setsCookie(cookies?.canary),
        }),
      ],
      mirror: split.mirror ? destination(spec, names.canary) : undefined,
      mirrorPercentage:
        split.mirror && spec.analysis.mirrorWeight !== undefined
          ? { value: spec.analysis.mirrorWeight }
          : undefined,
    });
  const routesList =
    spec.strategy.kind === "ab-testing"
      ? [
          http(combine(spec.analysis.match.map(toIstioMatch), serviceMatches, mergeIstio), routes),
          http(serviceMatches, routeTo(0)),
        ]
      : [
          // Requests with a session cookie go where the cookie says, before the split.
          ...cookieRoutes(sticky).map(([cookie, split]) =>
            http(
              combine([{ headers: { cookie: { regex: cookie.matchRegex } } }], serviceMatches, mergeIstio),
              split,
            ),
          ),
          http(serviceMatches, routes, sticky),
        ];
  return {
    apiVersion: "networking.istio.io/v1beta1",
    kind: "VirtualService",
    metadata: metadata(spec, namespace, names.apex),
    spec: compact({ hosts, gateways, http: routesList }),
  };
}

export function buildDestinationRule(spec: ResolvedCanarySpec, namespace: string, host: string): KubeObject {
  return {
    apiVersion: "networking.istio.io/v1beta1",
    kind: "DestinationRule",
    metadata: { name: host, namespace },
    spec: compact({ host, trafficPolicy: spec.service.trafficPolicy }),
  };
}

/** The split: of the A/B route (the first) when testing A/B, else of the last (after session-affinity routes). */
export function parseVirtualService(spec: ResolvedCanarySpec, virtualService: KubeObject): Routes {
  const names = serviceNames(spec);
  const routeSpec = virtualService.spec as { http?: HttpRoute[]; tcp?: HttpRoute[] } | undefined;
  const http = routeSpec?.http ?? [];
  const first = isTcp(spec)
    ? routeSpec?.tcp?.[0]
    : spec.strategy.kind === "ab-testing"
      ? http[0]
      : http.at(-1);
  const weight = (host: string) => {
    const destinations = first?.route ?? [];
    const found = destinations.find((d) => d.destination.host === host);
    // A route with a single destination and no weight sends it everything.
    return found === undefined ? 0 : (found.weight ?? (destinations.length === 1 ? 100 : 0));
  };
  return {
    primaryWeight: weight(names.primary),
    canaryWeight: weight(names.canary),
    mirror: first?.mirror?.host === names.canary,
  };
}

export const istioRouter = new ObjectRouter(
  (ctx: RouterContext) => {
    const names = serviceNames(ctx.spec);
    return {
      weighted: {
        type: RESOURCES.virtualServices,
        name: names.apex,
        build: (routes: Routes) => buildVirtualService(ctx.spec, ctx.namespace, routes, ctx.revision),
      },
      others: [names.primary, names.canary].map((host) => ({
        type: RESOURCES.destinationRules,
        name: host,
        build: () => buildDestinationRule(ctx.spec, ctx.namespace, host),
      })),
    };
  },
  (ctx, object) => parseVirtualService(ctx.spec, object),
);
