/**
 * HTTP match conditions (`service.match`, `analysis.match`) in the two dialects Canary specs use,
 * Istio's (StringMatch maps) and the Gateway API's (typed lists), converted to what each provider
 * needs. Pure functions; a condition a provider cannot express is an InvalidSpec error naming it.
 */
import type { HttpMatch } from "../../src/api/canary.ts";
import { invalidSpec } from "../errors.ts";

interface StringMatch {
  readonly exact?: string | undefined;
  readonly prefix?: string | undefined;
  readonly suffix?: string | undefined;
  readonly regex?: string | undefined;
}

interface NamedValue {
  readonly name: string;
  readonly value: string;
  readonly type?: "Exact" | "RegularExpression" | undefined;
}

export interface GatewayMatch {
  path?: { type: "Exact" | "PathPrefix" | "RegularExpression"; value: string };
  headers?: { type: "Exact" | "RegularExpression"; name: string; value: string }[];
  queryParams?: { type: "Exact" | "RegularExpression"; name: string; value: string }[];
  method?: string;
}

export type IstioMatch = Record<string, unknown>;

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A StringMatch as a Gateway API value match (prefix and suffix become regular expressions). */
function gatewayValue(
  match: StringMatch,
  field: string,
): { type: "Exact" | "RegularExpression"; value: string } {
  if (match.exact !== undefined) return { type: "Exact", value: match.exact };
  if (match.regex !== undefined) return { type: "RegularExpression", value: match.regex };
  if (match.prefix !== undefined)
    return { type: "RegularExpression", value: `^${escapeRegex(match.prefix)}.*` };
  if (match.suffix !== undefined)
    return { type: "RegularExpression", value: `.*${escapeRegex(match.suffix)}$` };
  throw invalidSpec(`${field} needs one of exact, prefix, suffix or regex`);
}

function gatewayNamed(
  values: HttpMatch["headers"],
  field: string,
): { type: "Exact" | "RegularExpression"; name: string; value: string }[] | undefined {
  if (values === undefined) return undefined;
  if (Array.isArray(values)) {
    return (values as NamedValue[]).map((v) => ({ type: v.type ?? "Exact", name: v.name, value: v.value }));
  }
  return Object.entries(values as Record<string, StringMatch>).map(([name, match]) => ({
    name,
    ...gatewayValue(match, `${field}.${name}`),
  }));
}

const GATEWAY_UNSUPPORTED = [
  "scheme",
  "authority",
  "withoutHeaders",
  "sourceLabels",
  "sourceNamespace",
  "gateways",
  "port",
  "ignoreUriCase",
] as const;

/** One condition in Gateway API form; `field` ("analysis.match[0]") names it in errors. */
export function toGatewayMatch(match: HttpMatch, field: string, provider: string): GatewayMatch {
  for (const key of GATEWAY_UNSUPPORTED) {
    if (match[key] !== undefined) {
      throw invalidSpec(
        `${field}.${key} is not supported by the ${provider} provider: use uri/path, method, headers and queryParams`,
      );
    }
  }
  const out: GatewayMatch = {};
  if (match.path?.value !== undefined) {
    out.path = { type: match.path.type ?? "PathPrefix", value: match.path.value };
  } else if (match.uri) {
    const uri = match.uri as StringMatch;
    if (uri.exact !== undefined) out.path = { type: "Exact", value: uri.exact };
    else if (uri.prefix !== undefined) out.path = { type: "PathPrefix", value: uri.prefix };
    else out.path = { type: "RegularExpression", value: gatewayValue(uri, `${field}.uri`).value };
  }
  if (match.method !== undefined) {
    const method = typeof match.method === "string" ? match.method : (match.method as StringMatch).exact;
    if (method === undefined)
      throw invalidSpec(`${field}.method must be an exact method for the ${provider} provider`);
    out.method = method.toUpperCase();
  }
  const headers = gatewayNamed(match.headers, `${field}.headers`);
  if (headers) out.headers = headers;
  const queryParams = gatewayNamed(match.queryParams, `${field}.queryParams`);
  if (queryParams) out.queryParams = queryParams;
  return out;
}

function istioNamed(values: HttpMatch["headers"]): Record<string, StringMatch> | undefined {
  if (values === undefined || !Array.isArray(values))
    return values as Record<string, StringMatch> | undefined;
  return Object.fromEntries(
    (values as NamedValue[]).map((v) => [
      v.name,
      v.type === "RegularExpression" ? { regex: v.value } : { exact: v.value },
    ]),
  );
}

/** One condition in Istio form: Istio's own keys pass through, Gateway API-style parts are translated. */
export function toIstioMatch(match: HttpMatch): IstioMatch {
  const { path, method, headers, queryParams, ...rest } = match;
  const out: IstioMatch = { ...rest };
  if (path?.value !== undefined && rest.uri === undefined) {
    out.uri =
      path.type === "Exact"
        ? { exact: path.value }
        : path.type === "RegularExpression"
          ? { regex: path.value }
          : { prefix: path.value };
  }
  if (method !== undefined) out.method = typeof method === "string" ? { exact: method } : method;
  const h = istioNamed(headers);
  if (h) out.headers = h;
  const q = istioNamed(queryParams);
  if (q) out.queryParams = q;
  return out;
}

/**
 * Every A/B condition combined with every service condition (a request must satisfy both); with
 * no service conditions, the A/B conditions alone.
 */
export function combine<T>(
  abMatches: readonly T[],
  serviceMatches: readonly T[],
  merge: (a: T, b: T) => T,
): T[] {
  if (serviceMatches.length === 0) return [...abMatches];
  return abMatches.flatMap((ab) => serviceMatches.map((service) => merge(service, ab)));
}

export function mergeGateway(a: GatewayMatch, b: GatewayMatch): GatewayMatch {
  const out: GatewayMatch = { ...a, ...b };
  if (a.headers || b.headers) out.headers = [...(a.headers ?? []), ...(b.headers ?? [])];
  if (a.queryParams || b.queryParams) out.queryParams = [...(a.queryParams ?? []), ...(b.queryParams ?? [])];
  return out;
}

export function mergeIstio(a: IstioMatch, b: IstioMatch): IstioMatch {
  const out: IstioMatch = { ...a, ...b };
  for (const key of ["headers", "queryParams", "withoutHeaders", "sourceLabels"]) {
    if (a[key] || b[key]) out[key] = { ...(a[key] as object), ...(b[key] as object) };
  }
  return out;
}
