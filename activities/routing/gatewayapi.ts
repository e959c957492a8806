/**
 * Gateway API (`gatewayapi:v1`, and `gatewayapi:v1beta1` for clusters whose Gateway
 * implementation serves only that version, or Linkerd's Gateway API path): one HTTPRoute named after the apex Service, attached to
 * `service.gatewayRefs`, whose rule splits traffic between the primary and canary Services by
 * backendRef weight. A/B testing adds a rule in front that sends requests matching
 * `analysis.match` to the canary; mirroring adds a RequestMirror filter; session affinity adds
 * cookie rules in front and Set-Cookie filters on the backends. Timeouts, header
 * modifiers, rewrites and extra mirrors come from `spec.service`. Retries and CORS are not in
 * the Gateway API standard channel, so they are not set.
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { apiVersionOf, RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { withoutTooling } from "../workload-primary.ts";
import { combine, type GatewayMatch, mergeGateway, toGatewayMatch } from "./match.ts";
import { compact, ObjectRouter, type RouterContext } from "./router.ts";
import { cookieRoutes, type StickyCookie, type StickySessions, stickySessions } from "./session-affinity.ts";

interface BackendRef {
  readonly name: string;
  readonly port?: number;
  readonly weight?: number;
  readonly filters?: Filter[];
}

interface Filter {
  readonly type: string;
  readonly [key: string]: unknown;
}

interface Rule {
  readonly matches?: GatewayMatch[];
  readonly filters?: Filter[];
  readonly backendRefs?: BackendRef[];
}

interface HeaderOperations {
  readonly set?: Record<string, string>;
  readonly add?: Record<string, string>;
  readonly remove?: string[];
}

function headerModifier(operations: HeaderOperations | undefined): Record<string, unknown> | undefined {
  if (!operations) return undefined;
  const pairs = (map: Record<string, string> | undefined) =>
    map ? Object.entries(map).map(([name, value]) => ({ name, value })) : undefined;
  return compact({ set: pairs(operations.set), add: pairs(operations.add), remove: operations.remove });
}

/** Filters every rule carries: header modifiers, URL rewrite and the spec's own extra mirrors. */
function serviceFilters(spec: ResolvedCanarySpec): Filter[] {
  const service = spec.service;
  const filters: Filter[] = [];
  const headers = service.headers as { request?: HeaderOperations; response?: HeaderOperations } | undefined;
  const request = headerModifier(headers?.request);
  if (request) filters.push({ type: "RequestHeaderModifier", requestHeaderModifier: request });
  const response = headerModifier(headers?.response);
  if (response) filters.push({ type: "ResponseHeaderModifier", responseHeaderModifier: response });
  if (service.rewrite && (service.rewrite.uri !== undefined || service.rewrite.authority !== undefined)) {
    const type = service.rewrite.type ?? "ReplacePrefixMatch";
    const path =
      service.rewrite.uri === undefined
        ? undefined
        : type === "ReplaceFullPath"
          ? { type, replaceFullPath: service.rewrite.uri }
          : { type: "ReplacePrefixMatch", replacePrefixMatch: service.rewrite.uri };
    filters.push({ type: "URLRewrite", urlRewrite: compact({ hostname: service.rewrite.authority, path }) });
  }
  for (const mirror of service.mirror ?? []) filters.push({ type: "RequestMirror", requestMirror: mirror });
  return filters;
}

/** A response from this backend sets the cookie that keeps its user there (session affinity). */
function setsCookie(cookie: StickyCookie | undefined): Filter[] | undefined {
  if (!cookie) return undefined;
  return [
    {
      type: "ResponseHeaderModifier",
      responseHeaderModifier: { add: [{ name: "Set-Cookie", value: cookie.setCookie }] },
    },
  ];
}

/** `revision` is the canary's, for session-affinity cookies. */
export function buildHttpRoute(
  spec: ResolvedCanarySpec,
  namespace: string,
  routes: Routes,
  revision?: string,
  type: ResourceType = RESOURCES.httpRoutes,
): KubeObject {
  const names = serviceNames(spec);
  const sticky = stickySessions(spec, revision, routes);
  const port = spec.service.port;
  const serviceMatches = (spec.service.match ?? []).map((m, i) =>
    toGatewayMatch(m, `service.match[${i}]`, spec.provider),
  );
  const common = serviceFilters(spec);
  const timeouts = compact({ request: spec.service.timeout, backendRequest: spec.service.backendTimeout });
  const rule = (matches: GatewayMatch[], split: Routes, cookies?: StickySessions): Rule =>
    compact({
      matches,
      filters: [
        ...common,
        ...(split.mirror
          ? [
              {
                type: "RequestMirror",
                requestMirror: compact({
                  backendRef: { name: names.canary, port },
                  percent: spec.analysis.mirrorWeight,
                }),
              },
            ]
          : []),
      ],
      backendRefs: [
        compact({
          name: names.primary,
          port,
          weight: split.primaryWeight,
          filters: setsCookie(cookies?.primary),
        }),
        compact({
          name: names.canary,
          port,
          weight: split.canaryWeight,
          filters: setsCookie(cookies?.canary),
        }),
      ],
      timeouts: Object.keys(timeouts).length > 0 ? timeouts : undefined,
    });
  const rules =
    spec.strategy.kind === "ab-testing"
      ? [
          rule(
            combine(
              spec.analysis.match.map((m, i) => toGatewayMatch(m, `analysis.match[${i}]`, spec.provider)),
              serviceMatches,
              mergeGateway,
            ),
            routes,
          ),
          rule(serviceMatches, routeTo(0)),
        ]
      : [
          // Requests with a session cookie go where the cookie says, before the split.
          ...cookieRoutes(sticky).map(([cookie, split]) =>
            rule(
              combine(
                [{ headers: [{ type: "RegularExpression", name: "Cookie", value: cookie.matchRegex }] }],
                serviceMatches,
                mergeGateway,
              ),
              split,
            ),
          ),
          rule(serviceMatches, routes, sticky),
        ];
  return {
    apiVersion: apiVersionOf(type),
    kind: type.kind,
    metadata: {
      name: names.apex,
      namespace,
      labels: spec.service.apex?.labels ?? {},
      annotations: withoutTooling(spec.service.apex?.annotations),
    },
    spec: compact({ parentRefs: spec.service.gatewayRefs, hostnames: spec.service.hosts, rules }),
  };
}

/** The split: of the A/B rule (the first) when testing A/B, else of the last (after session-affinity rules). */
export function parseHttpRoute(spec: ResolvedCanarySpec, route: KubeObject): Routes {
  const names = serviceNames(spec);
  const rules = ((route.spec as { rules?: Rule[] } | undefined)?.rules ?? []) as Rule[];
  const first = spec.strategy.kind === "ab-testing" ? rules[0] : rules.at(-1);
  const weight = (name: string) => {
    const ref = first?.backendRefs?.find((b) => b.name === name);
    return ref === undefined ? 0 : (ref.weight ?? 1);
  };
  const mirror = (first?.filters ?? []).some(
    (f) =>
      f.type === "RequestMirror" &&
      (f.requestMirror as { backendRef?: BackendRef })?.backendRef?.name === names.canary,
  );
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror };
}

function httpRouteRouter(type: ResourceType): ObjectRouter {
  return new ObjectRouter(
    (ctx: RouterContext) => ({
      weighted: {
        type,
        name: serviceNames(ctx.spec).apex,
        build: (routes: Routes) => buildHttpRoute(ctx.spec, ctx.namespace, routes, ctx.revision, type),
      },
      others: [],
    }),
    (ctx, object) => parseHttpRoute(ctx.spec, object),
  );
}

export const gatewayApiRouter = httpRouteRouter(RESOURCES.httpRoutes);
export const gatewayApiV1beta1Router = httpRouteRouter(RESOURCES.httpRoutesV1beta1);
