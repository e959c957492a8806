/**
 * Contour (`contour`): an HTTPProxy named after the apex Service, without a virtual host (the
 * user's root HTTPProxy includes it), whose route splits traffic between the primary and canary
 * Services by weight. A/B testing puts one route per `analysis.match` condition in front (header,
 * cookie and query conditions); mirroring marks the canary as the route's mirror service. Each
 * route's path comes from `spec.service.match` ("/" without it); timeouts and retries come from
 * `spec.service`, the labels and annotations (an ingress class too) from `spec.service.apex`.
 */
import type { HttpMatch } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { invalidSpec } from "../errors.ts";
import { withoutTooling } from "../workload-primary.ts";
import { combine, escapeRegex } from "./match.ts";
import { compact, ObjectRouter, type RouterContext } from "./router.ts";

interface StringMatch {
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  readonly regex?: string;
}

interface NamedValue {
  readonly name: string;
  readonly value: string;
  readonly type?: "Exact" | "RegularExpression";
}

/** One of Contour's MatchConditions: a path, a header or a query parameter. */
interface Condition {
  readonly prefix?: string;
  readonly exact?: string;
  readonly regex?: string;
  readonly header?: { readonly name: string; readonly [test: string]: string };
  readonly queryParameter?: { readonly name: string; readonly [test: string]: string };
}

/** The conditions of one route: Contour allows at most one path condition per route. */
interface RouteMatch {
  readonly path?: Condition;
  readonly others: readonly Condition[];
}

interface ProxyService {
  readonly name: string;
  readonly port: number;
  readonly weight?: number;
  readonly mirror?: boolean;
}

interface ProxyRoute {
  readonly conditions?: Condition[];
  readonly services?: ProxyService[];
}

const UNSUPPORTED = [
  "scheme",
  "authority",
  "method",
  "withoutHeaders",
  "sourceLabels",
  "sourceNamespace",
  "gateways",
  "port",
  "ignoreUriCase",
] as const;

/** Contour rejects a path condition that does not start with "/". */
function path(condition: Condition, field: string): Condition {
  const value = condition.prefix ?? condition.exact ?? condition.regex ?? "";
  if (!value.startsWith("/")) {
    throw invalidSpec(`${field} must start with "/" for the contour provider, got ${JSON.stringify(value)}`);
  }
  return condition;
}

function pathCondition(match: HttpMatch, field: string): Condition | undefined {
  if (match.path?.value !== undefined) {
    const { type, value } = match.path;
    const condition =
      type === "Exact"
        ? { exact: value }
        : type === "RegularExpression"
          ? { regex: value }
          : { prefix: value };
    return path(condition, `${field}.path.value`);
  }
  const uri = match.uri as StringMatch | undefined;
  if (uri === undefined) return undefined;
  const at = `${field}.uri`;
  if (uri.exact !== undefined) return path({ exact: uri.exact }, at);
  if (uri.prefix !== undefined) return path({ prefix: uri.prefix }, at);
  if (uri.regex !== undefined) return path({ regex: uri.regex }, at);
  if (uri.suffix !== undefined) return { regex: `/.*${escapeRegex(uri.suffix)}` };
  throw invalidSpec(`${at} needs one of exact, prefix, suffix or regex`);
}

/**
 * Header values as Flagger's contour router matches them: a prefix or a suffix only has to occur
 * somewhere in the value (Contour has no prefix or suffix test for headers), which Flagger's
 * examples rely on ("Mobile" in a User-Agent, "insider" in a Cookie).
 */
function headerTest(match: StringMatch, field: string): Record<string, string> {
  if (match.exact !== undefined) return { exact: match.exact };
  if (match.regex !== undefined) return { regex: match.regex };
  const part = match.prefix ?? match.suffix;
  if (part !== undefined) return { contains: part };
  throw invalidSpec(`${field} needs one of exact, prefix, suffix or regex`);
}

/** Query parameters have all four tests in Contour. */
function queryTest(match: StringMatch, field: string): Record<string, string> {
  for (const test of ["exact", "prefix", "suffix", "regex"] as const) {
    const value = match[test];
    if (value !== undefined) return { [test]: value };
  }
  throw invalidSpec(`${field} needs one of exact, prefix, suffix or regex`);
}

function named(
  values: HttpMatch["headers"],
  field: string,
  test: (match: StringMatch, field: string) => Record<string, string>,
): { name: string; [test: string]: string }[] {
  if (values === undefined) return [];
  if (Array.isArray(values)) {
    return (values as NamedValue[]).map((v) => ({
      name: v.name,
      ...(v.type === "RegularExpression" ? { regex: v.value } : { exact: v.value }),
    }));
  }
  return Object.entries(values as Record<string, StringMatch>).map(([name, match]) => ({
    name,
    ...test(match, `${field}.${name}`),
  }));
}

/** One Canary match condition as the conditions of a Contour route; `field` names it in errors. */
function toRouteMatch(match: HttpMatch, field: string): RouteMatch {
  for (const key of UNSUPPORTED) {
    if (match[key] !== undefined) {
      throw invalidSpec(
        `${field}.${key} is not supported by the contour provider: use uri (or path), headers and queryParams`,
      );
    }
  }
  return {
    path: pathCondition(match, field),
    others: [
      ...named(match.headers, `${field}.headers`, headerTest).map((header) => ({ header })),
      ...named(match.queryParams, `${field}.queryParams`, queryTest).map((queryParameter) => ({
        queryParameter,
      })),
    ],
  };
}

/** An A/B condition within a service condition: the A/B path, if any, wins (one path per route). */
function merge(service: RouteMatch, ab: RouteMatch): RouteMatch {
  return { path: ab.path ?? service.path, others: [...service.others, ...ab.others] };
}

const RETRY_ON = [
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
];

interface Retries {
  readonly attempts?: number;
  readonly perTryTimeout?: string;
  readonly retryOn?: string;
}

/** Istio-style `service.retries`; status codes in retryOn become Contour's retriable status codes. */
function retryPolicy(spec: ResolvedCanarySpec): Record<string, unknown> | undefined {
  const retries = spec.service.retries as Retries | undefined;
  if (retries === undefined) return undefined;
  const on = (retries.retryOn ?? "")
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value !== "");
  const isCode = (value: string) => /^[1-5][0-9]{2}$/.test(value);
  const codes = on.filter(isCode).map(Number);
  const conditions = on.filter((value) => !isCode(value));
  const unknown = conditions.filter((value) => !RETRY_ON.includes(value));
  if (unknown.length > 0) {
    throw invalidSpec(
      `service.retries.retryOn: ${unknown.join(", ")} ${unknown.length === 1 ? "is not a retry condition" : "are not retry conditions"} Contour knows: use HTTP status codes and ${RETRY_ON.join(", ")}`,
    );
  }
  if (codes.length > 0 && !conditions.includes("retriable-status-codes"))
    conditions.push("retriable-status-codes");
  return compact({
    count: retries.attempts,
    perTryTimeout: retries.perTryTimeout,
    retryOn: conditions,
    retriableStatusCodes: codes,
  });
}

function checkSupported(spec: ResolvedCanarySpec): void {
  if (spec.analysis.sessionAffinity !== undefined) {
    throw invalidSpec(
      "analysis.sessionAffinity is not supported by the contour provider: remove it, or use the istio or gatewayapi:v1 provider",
    );
  }
  if (spec.analysis.mirror && spec.analysis.mirrorWeight === 0) {
    throw invalidSpec(
      "analysis.mirrorWeight 0 would mirror every request: Contour reads a mirror weight of 0 as 100%. Set it between 1 and 100, or set analysis.mirror to false",
    );
  }
}

export function buildHttpProxy(spec: ResolvedCanarySpec, namespace: string, routes: Routes): KubeObject {
  checkSupported(spec);
  const names = serviceNames(spec);
  const port = spec.service.port;
  const service = (name: string, extra: Partial<ProxyService>) => ({
    name,
    port,
    ...extra,
    // Linkerd routes by this header: behind Contour, a request keeps the Service Contour chose.
    requestHeadersPolicy: {
      set: [{ name: "l5d-dst-override", value: `${name}.${namespace}.svc.cluster.local:${port}` }],
    },
  });
  const timeoutPolicy =
    spec.service.timeout === undefined ? undefined : { response: spec.service.timeout, idle: "5m" };
  const retries = retryPolicy(spec);
  const route = (match: RouteMatch, split: Routes) =>
    compact({
      conditions: [match.path ?? { prefix: "/" }, ...match.others],
      timeoutPolicy,
      retryPolicy: retries,
      services: [
        service(names.primary, { weight: split.primaryWeight }),
        service(names.canary, { weight: split.canaryWeight }),
        ...(split.mirror
          ? [service(names.canary, compact({ mirror: true, weight: spec.analysis.mirrorWeight }))]
          : []),
      ],
    });
  const serviceMatches = (spec.service.match ?? []).map((m, i) => toRouteMatch(m, `service.match[${i}]`));
  const unconditioned = serviceMatches.length > 0 ? serviceMatches : [{ others: [] }];
  const routeList =
    spec.strategy.kind === "ab-testing"
      ? [
          ...combine(
            spec.analysis.match.map((m, i) => toRouteMatch(m, `analysis.match[${i}]`)),
            serviceMatches,
            merge,
          ).map((match) => route(match, routes)),
          ...unconditioned.map((match) => route(match, routeTo(0))),
        ]
      : unconditioned.map((match) => route(match, routes));
  return {
    apiVersion: "projectcontour.io/v1",
    kind: "HTTPProxy",
    metadata: {
      name: names.apex,
      namespace,
      labels: spec.service.apex?.labels ?? {},
      annotations: withoutTooling(spec.service.apex?.annotations),
    },
    spec: { routes: routeList },
  };
}

/** The split: of the first A/B route when testing A/B, else of the last route. */
export function parseHttpProxy(spec: ResolvedCanarySpec, proxy: KubeObject): Routes {
  const names = serviceNames(spec);
  const list = (proxy.spec as { routes?: ProxyRoute[] } | undefined)?.routes ?? [];
  const route = spec.strategy.kind === "ab-testing" ? list[0] : list.at(-1);
  const services = route?.services ?? [];
  const weight = (name: string) => services.find((s) => s.name === name && s.mirror !== true)?.weight ?? 0;
  return {
    primaryWeight: weight(names.primary),
    canaryWeight: weight(names.canary),
    mirror: services.some((s) => s.name === names.canary && s.mirror === true),
  };
}

export const contourRouter = new ObjectRouter(
  (ctx: RouterContext) => ({
    weighted: {
      type: RESOURCES.httpProxies,
      name: serviceNames(ctx.spec).apex,
      build: (routes: Routes) => buildHttpProxy(ctx.spec, ctx.namespace, routes),
    },
    others: [],
  }),
  (ctx, object) => parseHttpProxy(ctx.spec, object),
);
