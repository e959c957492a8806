/**
 * HTTP for the analysis activities (metric providers, webhooks, alerts): one bounded request with a
 * deadline, a capped response body, optional TLS verification skip, the proxy the environment
 * names (HTTP(S)_PROXY/NO_PROXY, as Go reads them) or an explicit one, the operator's deny-local
 * destination policy, and errors that say in words what went wrong. Inside a Temporal activity it
 * also heartbeats while it waits and stops when the activity is cancelled.
 */
import { asyncLocalStorage } from "@temporalio/activity";
import { Agent, buildConnector, type Dispatcher, ProxyAgent, request } from "undici";
import { formatDuration } from "../src/api/duration.ts";
import { KindedError } from "../src/kinded-error.ts";
import { errorMessage } from "../src/log.ts";
import { checkLiteral, checkResolved, DestinationError, denyLocalLookup } from "../src/net/destination.ts";
import { proxyFor } from "../src/net/proxy.ts";
import { redact } from "../src/net/redact.ts";

export interface HttpRequest {
  readonly method: "GET" | "POST";
  readonly url: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>> | undefined;
  readonly body?: string | undefined;
  readonly timeoutMs: number;
  /** Accept any server certificate (Flagger's insecureSkipVerify / disableTLS). */
  readonly insecure?: boolean | undefined;
  /**
   * An http(s) proxy for the request (an AlertProvider's, checked by the caller); without one,
   * HTTP_PROXY, HTTPS_PROXY and NO_PROXY apply.
   */
  readonly proxy?: string | undefined;
  /** Refuse loopback and link-local destinations (the operator's denyLocalDestinations). */
  readonly denyLocal?: boolean | undefined;
  /** Bytes of response body kept; the rest is discarded unread. */
  readonly maxBodyBytes?: number | undefined;
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The body was longer than maxBodyBytes. */
  readonly truncated: boolean;
}

/** "invalid": not an http(s) URL; "denied": a destination the operator's policy refuses. */
export type HttpFailureKind = "timeout" | "unreachable" | "tls" | "cancelled" | "invalid" | "denied";

/** A request that got no HTTP answer; the message says why in words. */
export class HttpFailure extends KindedError<HttpFailureKind> {
  override name = "HttpFailure";
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const HEARTBEAT_EVERY_MS = 5_000;
/** Dispatchers kept for reuse (connection pooling); a handful of proxies at most in practice. */
const MAX_DISPATCHERS = 16;
const dispatchers = new Map<string, Dispatcher>();

/** How a request leaves: directly or through a proxy, and whether local destinations are refused. */
interface Route {
  readonly insecure: boolean;
  readonly proxy: string | undefined;
  /** The proxy came from the request (a user's), not from the operator's environment. */
  readonly userProxy: boolean;
  readonly denyLocal: boolean;
}

/** Connects directly, refusing denied IP literals here and denied names in the lookup hook. */
function guardedConnector(tls: { rejectUnauthorized: boolean }): buildConnector.connector {
  const connect = buildConnector({ ...tls, lookup: denyLocalLookup });
  return (options, callback) => {
    try {
      checkLiteral(options.hostname);
    } catch (error) {
      callback(error as Error, null);
      return;
    }
    connect(options, callback);
  };
}

function createDispatcher(route: Route): Dispatcher {
  const tls = { rejectUnauthorized: !route.insecure };
  if (route.proxy === undefined) {
    return new Agent({ connect: route.denyLocal ? guardedConnector(tls) : tls });
  }
  return new ProxyAgent({
    uri: route.proxy,
    requestTls: tls,
    // A user's proxy is a destination like any other; the operator's own (environment) is trusted.
    ...(route.denyLocal && route.userProxy ? { proxyTls: { lookup: denyLocalLookup } } : {}),
  });
}

function dispatcherFor(route: Route): Dispatcher {
  const key = JSON.stringify(route);
  let dispatcher = dispatchers.get(key);
  if (dispatcher === undefined) {
    dispatcher = createDispatcher(route);
    if (dispatchers.size >= MAX_DISPATCHERS) {
      const [oldestKey, oldest] = dispatchers.entries().next().value as [string, Dispatcher];
      dispatchers.delete(oldestKey);
      void oldest.close();
    }
    dispatchers.set(key, dispatcher);
  }
  return dispatcher;
}

/** The route of a request, after the checks that can be made before connecting. */
async function routeFor(req: HttpRequest, url: URL): Promise<Route> {
  const userProxy = req.proxy !== undefined;
  const proxy = req.proxy ?? proxyFor(url);
  const denyLocal = req.denyLocal ?? false;
  if (denyLocal && proxy !== undefined) {
    if (userProxy) checkLiteral(new URL(proxy).hostname);
    // The proxy resolves the destination: check what it resolves to here, the best we can do.
    await checkResolved(url.hostname);
  }
  return { insecure: req.insecure ?? false, proxy, userProxy, denyLocal };
}

/** The running Temporal activity's context, when called from one. */
function activityContext() {
  return asyncLocalStorage.getStore();
}

/** The details each running activity last heartbeated, so keep-alive heartbeats do not erase them. */
const progress = new WeakMap<object, unknown>();

/**
 * Tells Temporal this activity is alive (no-op outside an activity). Without details it repeats
 * the last ones (at first those of the previous attempt), which a retry reads back.
 */
export function heartbeat(details?: unknown): void {
  const context = activityContext();
  if (context === undefined) return;
  if (details !== undefined) progress.set(context, details);
  context.heartbeat(progress.has(context) ? progress.get(context) : context.info.heartbeatDetails);
}

/** What the previous attempt of this activity recorded with its last heartbeat. */
export function previousHeartbeat(): unknown {
  return activityContext()?.info.heartbeatDetails;
}

/** Fires when the surrounding activity is cancelled; undefined outside an activity. */
export function cancellationSignal(): AbortSignal | undefined {
  return activityContext()?.cancellationSignal;
}

/** Sleeps, heartbeating, and wakes early (rejecting) if the activity is cancelled. */
export async function pause(ms: number): Promise<void> {
  const cancelled = cancellationSignal();
  heartbeat();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      cancelled?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(new HttpFailure("cancelled", "cancelled"));
    }
    cancelled?.addEventListener("abort", abort, { once: true });
  });
}

/** Runs `work`, heartbeating every few seconds until it settles. */
async function withHeartbeats<T>(work: Promise<T>): Promise<T> {
  if (activityContext() === undefined) return work;
  heartbeat();
  const timer = setInterval(() => heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * Sends one request and reads at most maxBodyBytes of the answer, all within timeoutMs. Any HTTP
 * status is a response; only a missing answer throws (HttpFailure).
 */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  if (!URL.canParse(req.url) || !/^https?:$/.test(new URL(req.url).protocol)) {
    throw new HttpFailure("invalid", `${JSON.stringify(redact(req.url))} is not an http(s) URL`);
  }
  let route: Route;
  try {
    route = await routeFor(req, new URL(req.url));
  } catch (error) {
    if (error instanceof DestinationError) throw new HttpFailure(error.kind, error.message);
    throw error;
  }
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const cancelled = cancellationSignal();
  const signal = cancelled === undefined ? timeout : AbortSignal.any([timeout, cancelled]);
  const limit = req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  try {
    return await withHeartbeats(
      (async () => {
        const response = await request(req.url, {
          method: req.method,
          headers: req.headers as Record<string, string | string[]>,
          body: req.body,
          signal,
          dispatcher: dispatcherFor(route),
        });
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        for await (const chunk of response.body) {
          const buffer = chunk as Buffer;
          chunks.push(buffer.subarray(0, Math.max(0, limit - size)));
          size += buffer.length;
          if (size > limit) {
            truncated = true;
            // Stop reading: a huge or endless body must not hold the activity or its memory.
            response.body.destroy();
            break;
          }
        }
        return {
          statusCode: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          truncated,
        };
      })(),
    );
  } catch (error) {
    if (timeout.aborted) {
      throw new HttpFailure("timeout", `no answer within ${formatDuration(req.timeoutMs)}`);
    }
    if (cancelled?.aborted) throw new HttpFailure("cancelled", "cancelled");
    throw describeTransportError(error, req.url);
  }
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && !code.startsWith("UND_ERR_")) return code;
  }
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function destinationError(error: unknown): DestinationError | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DestinationError) return e;
  }
  return undefined;
}

/** A request error (from undici or node:http) in words, naming the host of `url`. */
export function describeTransportError(error: unknown, url: string): HttpFailure {
  const refused = destinationError(error);
  if (refused !== undefined) return new HttpFailure(refused.kind, refused.message);
  const code = errorCode(error);
  const host = URL.canParse(url) ? new URL(url).host : url;
  const detail = errorMessage(error);
  switch (code) {
    case "ECONNREFUSED":
      return new HttpFailure("unreachable", `cannot connect to ${host}: connection refused`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new HttpFailure("unreachable", `cannot resolve host ${new URL(url).hostname}`);
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return new HttpFailure("unreachable", `${host} closed the connection before answering`);
    case "UND_ERR_CONNECT_TIMEOUT":
      return new HttpFailure("timeout", `cannot connect to ${host}: connect timeout`);
    default:
      if (code !== undefined && TLS_CODES.has(code)) {
        return new HttpFailure(
          "tls",
          `TLS handshake with ${host} failed (${code}): the server certificate is not trusted`,
        );
      }
      return new HttpFailure("unreachable", `request to ${host} failed: ${redact(detail)}`);
  }
}

/** A short single-line excerpt of a response body, for results and error messages. */
export function excerpt(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
