/**
 * Service Mesh Interface (`smi:v1alpha1`, `smi:v1alpha2`, `smi:v1alpha3`, and `linkerd` and `osm`,
 * which write v1alpha1 and v1alpha2 as in Flagger): one TrafficSplit named after the apex Service,
 * whose root service is the apex (or `service.hosts[0]`) and whose backends are the canary and
 * primary Services with their weights. The versions differ only in what `SplitVersion` says.
 *
 * A/B testing needs the TrafficSplit's `matches`, which only v1alpha3 has: an HTTPRouteGroup holds
 * `analysis.match`, the split applies to matching requests only, and every other request reaches
 * the root Service, which selects the primary. SMI has no mirroring and cannot set cookies, so
 * mirroring and session affinity are refused, as is A/B testing on the older versions.
 */
import type { HttpMatch } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { invalidSpec } from "../errors.ts";
import { escapeRegex } from "./match.ts";
import { compact, ObjectRouter, type Router, type RouterContext, type RoutingObject } from "./router.ts";

interface SplitVersion {
  readonly trafficSplits: ResourceType;
  /** A backend weight as this version writes it: a resource quantity in v1alpha1, an integer after. */
  readonly weight: (percent: number) => number | string;
  /** The HTTPRouteGroups its `matches` refer to; absent for the versions without matches. */
  readonly routeGroups?: ResourceType;
}

const V1ALPHA1: SplitVersion = { trafficSplits: RESOURCES.trafficSplitsV1alpha1, weight: String };
const V1ALPHA2: SplitVersion = { trafficSplits: RESOURCES.trafficSplitsV1alpha2, weight: (p) => p };
const V1ALPHA3: SplitVersion = {
  trafficSplits: RESOURCES.trafficSplitsV1alpha3,
  weight: (p) => p,
  routeGroups: RESOURCES.httpRouteGroups,
};

interface Backend {
  readonly service?: string;
  readonly weight?: number | string;
}

/** One route of an HTTPRouteGroup (specs.smi-spec.io/v1alpha3): its conditions all hold. */
interface RouteGroupMatch {
  readonly name: string;
  readonly pathRegex?: string | undefined;
  readonly methods?: string[] | undefined;
  /** Header name to a regular expression its value must match. */
  readonly headers?: Record<string, string> | undefined;
}

interface StringMatch {
  readonly exact?: string | undefined;
  readonly prefix?: string | undefined;
  readonly suffix?: string | undefined;
  readonly regex?: string | undefined;
}

/**
 * A value condition as a regular expression. Prefix and suffix spell out the rest (`.*`), so the
 * expression means the same whether a mesh matches it against the whole value or searches it.
 */
function regexOf(match: StringMatch, field: string): string {
  if (match.exact !== undefined) return `^${escapeRegex(match.exact)}$`;
  if (match.prefix !== undefined) return `^${escapeRegex(match.prefix)}.*`;
  if (match.suffix !== undefined) return `.*${escapeRegex(match.suffix)}$`;
  if (match.regex !== undefined) return match.regex;
  throw invalidSpec(`${field} needs one of exact, prefix, suffix or regex`);
}

function headerRegexes(headers: HttpMatch["headers"], field: string): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  if (Array.isArray(headers)) {
    return Object.fromEntries(
      headers.map((h) => [h.name, h.type === "RegularExpression" ? h.value : `^${escapeRegex(h.value)}$`]),
    );
  }
  return Object.fromEntries(
    Object.entries(headers as Record<string, StringMatch>).map(([name, match]) => [
      name,
      regexOf(match, `${field}.${name}`),
    ]),
  );
}

function pathRegex(match: HttpMatch, field: string): string | undefined {
  const { path, uri } = match;
  if (path?.value !== undefined) {
    if (path.type === "RegularExpression") return path.value;
    return path.type === "Exact" ? `^${escapeRegex(path.value)}$` : `^${escapeRegex(path.value)}.*`;
  }
  return uri === undefined ? undefined : regexOf(uri, `${field}.uri`);
}

/** What an HTTPRouteGroup route can say: the path, the method and header values. */
const ROUTE_GROUP_KEYS: ReadonlySet<string> = new Set(["name", "uri", "path", "method", "headers"]);

function toRouteGroupMatch(match: HttpMatch, index: number, provider: string): RouteGroupMatch {
  const field = `analysis.match[${index}]`;
  for (const [key, value] of Object.entries(match)) {
    if (value !== undefined && !ROUTE_GROUP_KEYS.has(key)) {
      throw invalidSpec(
        `${field}.${key} is not supported by the ${provider} provider: an HTTPRouteGroup matches headers, uri and method only`,
      );
    }
  }
  let methods: string[] | undefined;
  if (match.method !== undefined) {
    const method = typeof match.method === "string" ? match.method : match.method.exact;
    if (method === undefined) {
      throw invalidSpec(`${field}.method must be an exact method for the ${provider} provider`);
    }
    methods = [method.toUpperCase()];
  }
  // Route names are the group's keys: the position keeps them unique.
  return compact({
    name: `match-${index}`,
    pathRegex: pathRegex(match, field),
    methods,
    headers: headerRegexes(match.headers, `${field}.headers`),
  });
}

function refuseUnsupported(spec: ResolvedCanarySpec, provider: string, version: SplitVersion): void {
  if (spec.strategy.mirror) {
    throw invalidSpec(
      `analysis.mirror is not supported by the ${provider} provider: SMI has no traffic mirroring; remove it`,
    );
  }
  if (spec.analysis.sessionAffinity !== undefined) {
    throw invalidSpec(
      `analysis.sessionAffinity is not supported by the ${provider} provider: a TrafficSplit cannot set cookies; remove it`,
    );
  }
  if (spec.strategy.kind === "ab-testing" && version.routeGroups === undefined) {
    throw invalidSpec(
      `analysis.match (A/B testing) is not supported by the ${provider} provider: TrafficSplit ` +
        `${version.trafficSplits.version} has no matches; remove analysis.match, or use smi:v1alpha3 if the ` +
        "mesh serves it (for Linkerd, gatewayapi:v1beta1 with gatewayRefs naming the apex Service)",
    );
  }
}

function routeGroup(
  ctx: RouterContext,
  provider: string,
  version: SplitVersion,
  type: ResourceType,
): RoutingObject {
  // Not the apex's name: a group the user keeps for access policies is never taken over.
  const name = `${serviceNames(ctx.spec).apex}-ab-testing`;
  return {
    type,
    name,
    build: () => {
      refuseUnsupported(ctx.spec, provider, version);
      return {
        metadata: { name, namespace: ctx.namespace },
        spec: { matches: ctx.spec.analysis.match.map((m, i) => toRouteGroupMatch(m, i, provider)) },
      };
    },
  };
}

function buildTrafficSplit(
  ctx: RouterContext,
  provider: string,
  version: SplitVersion,
  routes: Routes,
  group: RoutingObject | undefined,
): KubeObject {
  refuseUnsupported(ctx.spec, provider, version);
  const names = serviceNames(ctx.spec);
  return {
    metadata: { name: names.apex, namespace: ctx.namespace },
    spec: compact({
      service: ctx.spec.service.hosts?.[0] ?? names.apex,
      matches: group && [{ kind: group.type.kind, apiGroup: group.type.group, name: group.name }],
      backends: [
        { service: names.canary, weight: version.weight(routes.canaryWeight) },
        { service: names.primary, weight: version.weight(routes.primaryWeight) },
      ],
    }),
  };
}

/** The backends' weights; the quantities v1alpha1 holds are the plain integers this router writes. */
function parseTrafficSplit(spec: ResolvedCanarySpec, split: KubeObject): Routes {
  const names = serviceNames(spec);
  const backends = ((split.spec as { backends?: Backend[] } | undefined)?.backends ?? []) as Backend[];
  const weight = (name: string) => {
    const value = Number(backends.find((b) => b.service === name)?.weight ?? 0);
    return Number.isFinite(value) ? value : 0;
  };
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror: false };
}

function smiRouter(provider: string, version: SplitVersion): Router {
  return new ObjectRouter(
    (ctx) => {
      const group =
        ctx.spec.strategy.kind === "ab-testing" && version.routeGroups
          ? routeGroup(ctx, provider, version, version.routeGroups)
          : undefined;
      const weighted: RoutingObject = {
        type: version.trafficSplits,
        name: serviceNames(ctx.spec).apex,
        build: (routes) => buildTrafficSplit(ctx, provider, version, routes, group),
      };
      return { weighted, others: group ? [group] : [] };
    },
    (ctx, object) => parseTrafficSplit(ctx.spec, object),
  );
}

export const smiRouters = {
  linkerd: smiRouter("linkerd", V1ALPHA1),
  osm: smiRouter("osm", V1ALPHA2),
  "smi:v1alpha1": smiRouter("smi:v1alpha1", V1ALPHA1),
  "smi:v1alpha2": smiRouter("smi:v1alpha2", V1ALPHA2),
  "smi:v1alpha3": smiRouter("smi:v1alpha3", V1ALPHA3),
} as const;
