/**
 * What every metric provider offers (Prometheus, Datadog, Graphite, ...): run one query and get
 * one number, and tell whether the backend answers at all. A provider is one file that exports a
 * factory; registry.ts maps MetricTemplate `spec.provider.type` to it.
 */

import { KindedError } from "../../src/kinded-error.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { excerpt, HttpFailure, type HttpRequest, type HttpResponse, httpRequest } from "../analysis-http.ts";

/** How much of a query a message quotes. */
const QUERY_EXCERPT = 240;

export interface QueryContext {
  /** The metric's window (analysis.metrics[].interval), for APIs that take a time range. */
  readonly intervalMs: number;
}

export interface MetricProvider {
  /** For messages: "Prometheus at http://prometheus:9090". */
  readonly description: string;
  /** Runs the query and returns its single value; throws MetricQueryError saying what went wrong. */
  runQuery(query: string, context: QueryContext): Promise<number>;
  /** Resolves when the backend answers with valid credentials; throws MetricQueryError otherwise. */
  isOnline(): Promise<void>;
}

export interface ProviderSettings {
  /** MetricTemplate `provider.address`, or the operator's metrics server for Prometheus. */
  readonly address: string | undefined;
  /** Extra request headers (MetricTemplate `provider.headers`). */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly insecureSkipVerify: boolean;
  readonly region: string | undefined;
  /** The data of the Secret named by `provider.secretRef`, if any. */
  readonly credentials: Readonly<Record<string, string>> | undefined;
  /** "Secret ns/name", to name it in messages. */
  readonly credentialsSource: string;
  readonly timeoutMs: number;
  /** Refuse loopback and link-local destinations (the operator's denyLocalDestinations). */
  readonly denyLocal: boolean;
  /** The operator's Kubernetes client, for providers whose data lives in the cluster (keptn, externalmetrics). */
  readonly kube?: KubeClient | undefined;
}

export type MetricProviderFactory = (settings: ProviderSettings) => MetricProvider;

/**
 * Why a query gave no number: the backend could not be reached, it answered an HTTP error, it
 * rejected the query, it found no data, or the provider is misconfigured.
 */
export type MetricQueryErrorKind = "unreachable" | "http" | "query" | "no-data" | "config";

export class MetricQueryError extends KindedError<MetricQueryErrorKind> {
  override name = "MetricQueryError";
}

export const NO_DATA_HINT = "is the canary receiving traffic?";

/**
 * A query's result series, reduced to the one value a threshold can judge. `oneValueHint` says
 * how to make the query return one value, in the provider's query language.
 */
export function singleValue(
  values: readonly number[],
  query: string,
  oneValueHint = "aggregate it (e.g. sum(...))",
): number {
  if (values.length === 0) {
    throw new MetricQueryError(
      "no-data",
      `no values found (${NO_DATA_HINT}) for query ${excerpt(query, QUERY_EXCERPT)}`,
    );
  }
  if (values.length > 1) {
    throw new MetricQueryError(
      "query",
      `the query returned ${values.length} series, not one: ${oneValueHint}; query ${excerpt(query, QUERY_EXCERPT)}`,
    );
  }
  const [value] = values as [number];
  if (Number.isNaN(value)) {
    throw new MetricQueryError(
      "no-data",
      `the query returned NaN (${NO_DATA_HINT} a ratio of zero requests is undefined); query ${excerpt(query, QUERY_EXCERPT)}`,
    );
  }
  return value;
}

/** Joins an API path to a base address that may carry a path prefix ("http://host/prometheus"). */
export function apiUrl(address: string, path: string, params: Record<string, string>): string {
  const base = address.endsWith("/") ? address : `${address}/`;
  const url = new URL(path.replace(/^\//, ""), base);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/** Flattens MetricTemplate headers (name → values) into request headers. */
export function templateHeaders(
  headers: Readonly<Record<string, readonly string[]>>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    if (values.length > 0)
      out[name.toLowerCase()] = values.length === 1 ? (values[0] as string) : [...values];
  }
  return out;
}

/** What a provider says about one request; the settings add the timeout and the policies. */
export type BackendRequest = Omit<HttpRequest, "timeoutMs" | "insecure" | "denyLocal" | "proxy">;

/** Sends a request to a backend; transport failures become MetricQueryErrors naming the backend. */
export async function askBackend(
  description: string,
  settings: ProviderSettings,
  req: BackendRequest,
): Promise<HttpResponse> {
  try {
    return await httpRequest({
      ...req,
      timeoutMs: settings.timeoutMs,
      insecure: settings.insecureSkipVerify,
      denyLocal: settings.denyLocal,
    });
  } catch (error) {
    if (error instanceof HttpFailure && error.kind !== "cancelled") {
      const hint = error.kind === "tls" ? " (set insecureSkipVerify: true to skip verification)" : "";
      throw new MetricQueryError("unreachable", `cannot query ${description}: ${error.message}${hint}`);
    }
    throw error;
  }
}

/**
 * Parses a JSON body. A body that is not JSON is an HTTP error when the status says so (a proxy's
 * 401, a gateway's 502) and otherwise a backend that does not speak the expected API.
 */
export function parseJson(description: string, response: HttpResponse): unknown {
  try {
    return JSON.parse(response.body);
  } catch {
    const ok = response.statusCode >= 200 && response.statusCode <= 299;
    throw new MetricQueryError(
      "http",
      ok
        ? `${description} answered HTTP ${response.statusCode} with a body that is not JSON: ${excerpt(response.body, 200)}`
        : httpErrorMessage(description, response),
    );
  }
}

/** The message for an HTTP error status, with a hint for the usual causes. */
export function httpErrorMessage(description: string, response: HttpResponse, detail?: string): string {
  const body = detail ?? excerpt(response.body, 200);
  const hint =
    response.statusCode === 401 || response.statusCode === 403
      ? " (check the credentials in the template's secretRef)"
      : "";
  return `${description} answered HTTP ${response.statusCode}${hint}${body ? `: ${body}` : ""}`;
}

/**
 * The values of the keys a provider needs from its template's Secret, in order; a missing Secret
 * or key is a config error naming what to add.
 */
export function requiredCredentials<Keys extends readonly [string, ...string[]]>(
  settings: ProviderSettings,
  provider: string,
  keys: Keys,
): { [I in keyof Keys]: string } {
  const secret = settings.credentials;
  const missing = keys.find((key) => !secret?.[key]);
  if (missing === undefined) return keys.map((key) => secret?.[key]) as { [I in keyof Keys]: string };
  throw new MetricQueryError(
    "config",
    secret === undefined
      ? `the ${provider} provider needs a secretRef to a Secret with the ${keys.length === 1 ? "key" : "keys"} ${keys.join(" and ")}`
      : `${settings.credentialsSource} lacks ${missing}`,
  );
}

/**
 * GETs from a backend's JSON API. An error status is a failed check (400: the query's fault) whose
 * message carries the backend's own reason, which `errorDetail` reads from the answer.
 */
export async function getJson<T>(
  description: string,
  settings: ProviderSettings,
  url: string,
  headers: Record<string, string | string[]>,
  errorDetail: (answer: T) => string | undefined,
): Promise<T> {
  const response = await askBackend(description, settings, { method: "GET", url, headers });
  const answer = parseJson(description, response) as T;
  if (response.statusCode < 200 || response.statusCode > 299) {
    const kind = response.statusCode === 400 ? "query" : "http";
    throw new MetricQueryError(kind, httpErrorMessage(description, response, errorDetail(answer)));
  }
  return answer;
}
