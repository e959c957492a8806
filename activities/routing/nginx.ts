/**
 * ingress-nginx (`nginx`): the user's Ingress (`ingressRef`) keeps routing to the apex Service,
 * which selects the primary's pods. The router owns `<ingressRef.name>-canary`, a copy whose paths
 * to the apex Service go to the canary Service, marked as ingress-nginx's canary for the same
 * hosts and paths. Its `canary-weight` annotation is the canary's share (canary, blue/green); A/B
 * testing instead sends requests carrying one header (`canary-by-header`, with `-value` for an
 * exact value or `-pattern` for a regular expression) or one cookie (`canary-by-cookie`: its
 * value "always" selects the canary) there. Mirroring and session affinity are refused.
 */
import type { HttpMatch } from "../../src/api/canary.ts";
import { type ResolvedCanarySpec, serviceNames } from "../../src/api/defaults.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { invalidSpec } from "../errors.ts";
import { type Annotations, IngressRouter, rewritePaths, toService } from "./ingress.ts";
import { escapeRegex } from "./match.ts";
import type { RouterContext } from "./router.ts";

const PREFIX = "nginx.ingress.kubernetes.io/";

export const NGINX_ANNOTATIONS = {
  canary: `${PREFIX}canary`,
  weight: `${PREFIX}canary-weight`,
  header: `${PREFIX}canary-by-header`,
  headerValue: `${PREFIX}canary-by-header-value`,
  headerPattern: `${PREFIX}canary-by-header-pattern`,
  cookie: `${PREFIX}canary-by-cookie`,
} as const;

const A = NGINX_ANNOTATIONS;

interface StringMatch {
  readonly exact?: string | undefined;
  readonly prefix?: string | undefined;
  readonly suffix?: string | undefined;
  readonly regex?: string | undefined;
}

/** The header conditions of one match entry, Istio-style map or Gateway API-style list alike. */
function headerConditions(headers: HttpMatch["headers"]): [string, StringMatch][] {
  if (headers === undefined) return [];
  if (Array.isArray(headers)) {
    return headers.map((h) => [
      h.name,
      h.type === "RegularExpression" ? { regex: h.value } : { exact: h.value },
    ]);
  }
  return Object.entries(headers as Record<string, StringMatch>);
}

/** ingress-nginx matches the pattern anywhere in the header's value, so prefix and suffix anchor it. */
function headerRule(match: StringMatch, field: string): Annotations {
  if (match.exact !== undefined) return { [A.headerValue]: match.exact };
  if (match.regex !== undefined) return { [A.headerPattern]: match.regex };
  if (match.prefix !== undefined) return { [A.headerPattern]: `^${escapeRegex(match.prefix)}` };
  if (match.suffix !== undefined) return { [A.headerPattern]: `${escapeRegex(match.suffix)}$` };
  throw invalidSpec(`${field} needs one of exact, prefix, suffix or regex`);
}

/**
 * The by-header and by-cookie annotations for `analysis.match`. ingress-nginx knows one header
 * and one cookie, and sends a request to the canary when either matches: every match entry must
 * therefore hold exactly one condition, and there can be at most one of each.
 */
export function abAnnotations(spec: ResolvedCanarySpec): Annotations {
  const out: Annotations = {};
  spec.analysis.match.forEach((match, i) => {
    const field = `analysis.match[${i}]`;
    for (const [key, value] of Object.entries(match)) {
      if (key !== "headers" && key !== "name" && value !== undefined) {
        throw invalidSpec(
          `${field}.${key} is not supported by the nginx provider: ingress-nginx picks the canary by one header or one cookie, so match on headers only`,
        );
      }
    }
    const conditions = headerConditions(match.headers);
    const [condition] = conditions;
    if (condition === undefined || conditions.length > 1) {
      throw invalidSpec(
        `${field} must hold exactly one header (or the cookie), not ${conditions.length}: ingress-nginx sends a request to the canary when any one condition holds, so give each its own match entry`,
      );
    }
    const [name, value] = condition;
    if (name.toLowerCase() === "cookie") {
      if (value.exact === undefined) {
        throw invalidSpec(
          `${field}.headers.cookie must be exact: the name of the cookie whose value "always" sends a request to the canary`,
        );
      }
      if (out[A.cookie] !== undefined) {
        throw invalidSpec(`${field}.headers.cookie: ingress-nginx routes by one cookie only, named earlier`);
      }
      out[A.cookie] = value.exact;
      return;
    }
    if (out[A.header] !== undefined) {
      throw invalidSpec(
        `${field}.headers.${name}: ingress-nginx routes by one header only, and ${out[A.header]} is named earlier`,
      );
    }
    Object.assign(out, { [A.header]: name }, headerRule(value, `${field}.headers.${name}`));
  });
  return out;
}

/** Every canary annotation for `routes`: null for those that must not be there (a merge patch removes them). */
function routing(spec: ResolvedCanarySpec, routes: Routes): Record<string, string | null> {
  const ab = spec.strategy.kind === "ab-testing";
  const rules = ab && routes.canaryWeight > 0 ? abAnnotations(spec) : {};
  return {
    [A.canary]: "true",
    // A/B: only matching requests reach the canary.
    [A.weight]: String(ab ? 0 : routes.canaryWeight),
    [A.header]: rules[A.header] ?? null,
    [A.headerValue]: rules[A.headerValue] ?? null,
    [A.headerPattern]: rules[A.headerPattern] ?? null,
    [A.cookie]: rules[A.cookie] ?? null,
  };
}

function check(spec: ResolvedCanarySpec): void {
  if (spec.analysis.mirror) {
    throw invalidSpec("analysis.mirror is not supported by the nginx provider: remove it");
  }
  if (spec.analysis.sessionAffinity !== undefined) {
    throw invalidSpec("analysis.sessionAffinity is not supported by the nginx provider: remove it");
  }
  if (spec.strategy.kind === "ab-testing") abAnnotations(spec);
}

function annotations(spec: ResolvedCanarySpec, user: Annotations, routes: Routes): Annotations {
  // The user's own canary annotations would contradict the copy's.
  const kept = Object.entries(user).filter(([key]) => !key.startsWith(A.canary));
  const set = Object.entries(routing(spec, routes)).filter(
    (entry): entry is [string, string] => entry[1] !== null,
  );
  return Object.fromEntries([...kept, ...set]);
}

/**
 * A/B testing: whether the copy has a by-header or by-cookie rule (its weight stays 0); else the
 * weight, one ingress-nginx cannot parse counting as 0, as there. Each reads only what that
 * strategy writes, so a reconcile after a strategy change drops the other's leftovers.
 */
function parse(spec: ResolvedCanarySpec, annotations: Annotations): Routes {
  if (spec.strategy.kind === "ab-testing") {
    return routeTo(annotations[A.header] !== undefined || annotations[A.cookie] !== undefined ? 100 : 0);
  }
  const weight = Number(annotations[A.weight]);
  return routeTo(Number.isInteger(weight) && weight >= 0 && weight <= 100 ? weight : 0);
}

async function writeRoutes(ctx: RouterContext, name: string, routes: Routes): Promise<void> {
  await ctx.kube.mergePatch(RESOURCES.ingresses, ctx.namespace, name, {
    metadata: { annotations: routing(ctx.spec, routes) },
  });
}

export const nginxRouter = new IngressRouter({
  name: "nginx",
  check,
  spec: (spec, user) =>
    rewritePaths(spec, user, (backend) => [toService(backend, serviceNames(spec).canary)]),
  annotations,
  parse,
  writeRoutes,
});
