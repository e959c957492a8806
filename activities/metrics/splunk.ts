/**
 * Splunk Observability Cloud (SignalFx): the template's query is a SignalFlow program, executed over
 * the realm's stream endpoint for a window that ends now and starts ten metric intervals back, as
 * Flagger asks for it (SignalFlow needs a few resolution periods to emit a point). The token comes
 * from the template's Secret under `sf_token_key`; the address is the realm's API URL
 * (https://api.<realm>.signalfx.com) or its stream URL (https://stream.<realm>.signalfx.com), and
 * each call goes to the host it needs.
 *
 * Flagger runs the program over SignalFlow's WebSocket; this provider uses the same API's HTTP
 * form (POST /v2/signalflow/execute, answered as Server-Sent Events), which carries the same
 * messages and goes through the HTTP client every provider shares (proxy, TLS, deny-local).
 */
import { excerpt } from "../analysis-http.ts";
import {
  apiUrl,
  askBackend,
  getJson,
  httpErrorMessage,
  type MetricProvider,
  MetricQueryError,
  type ProviderSettings,
  requiredCredentials,
  singleValue,
  templateHeaders,
} from "./provider.ts";

const TOKEN = "sf_token_key";
/** How many metric intervals back the program's window starts, as Flagger sets it. */
const WINDOW_INTERVALS = 10;
const ONE_VALUE_HINT = "publish one stream (e.g. .sum().publish())";

/** The realm's host for one role: `api.<realm>...` for REST calls, `stream.<realm>...` for SignalFlow. */
function realmUrl(address: string, role: "api" | "stream"): string {
  const url = new URL(address);
  url.hostname = url.hostname.replace(/^(api|stream)\./, `${role}.`);
  return url.toString();
}

interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
}

/** Splits a text/event-stream body into its events (blank-line separated `event:`/`data:` fields). */
export function serverSentEvents(body: string): ServerSentEvent[] {
  return body
    .split(/\r?\n\r?\n/)
    .map((block) => {
      let event = "message";
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        const [, field, value = ""] = /^([^:]*):? ?(.*)$/.exec(line) ?? [];
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      return { event, data: data.join("\n") };
    })
    .filter((event) => event.data !== "");
}

interface SignalFlowError {
  readonly code?: string | number;
  readonly message?: string;
  readonly context?: unknown;
}

function describeErrors(errors: readonly SignalFlowError[]): string {
  return errors
    .map((e) =>
      [e.code, e.message, e.context === undefined ? undefined : JSON.stringify(e.context)]
        .filter(Boolean)
        .join(" "),
    )
    .join("; ");
}

/** The newest value of each output stream the program published. */
function latestByStream(events: readonly ServerSentEvent[], description: string): Map<string, number> {
  const latest = new Map<string, number>();
  for (const { event, data } of events) {
    let message: {
      event?: string;
      abortInfo?: unknown;
      errors?: SignalFlowError[];
      data?: { tsId?: string; value?: number | null }[];
    };
    try {
      message = JSON.parse(data);
    } catch {
      throw new MetricQueryError(
        "http",
        `${description} sent a SignalFlow message that is not JSON: ${excerpt(data, 200)}`,
      );
    }
    if (event === "error") {
      throw new MetricQueryError(
        "query",
        `${description} rejected the program: ${describeErrors(message.errors ?? [])}`,
      );
    }
    if (event === "control-message" && message.event === "CHANNEL_ABORT") {
      throw new MetricQueryError(
        "query",
        `${description} aborted the computation: ${JSON.stringify(message.abortInfo ?? {})}`,
      );
    }
    if (event === "data") {
      for (const point of message.data ?? []) {
        if (point.tsId !== undefined && typeof point.value === "number") latest.set(point.tsId, point.value);
      }
    }
  }
  return latest;
}

export function splunkProvider(settings: ProviderSettings): MetricProvider {
  const { address } = settings;
  if (address === undefined) {
    throw new MetricQueryError(
      "config",
      "the splunk provider needs an address: the realm's API URL (https://api.<realm>.signalfx.com)",
    );
  }
  const [token] = requiredCredentials(settings, "splunk", [TOKEN]);
  const stream = realmUrl(address, "stream");
  const api = realmUrl(address, "api");
  const description = `Splunk Observability at ${stream}`;
  const headers = { ...templateHeaders(settings.headers), "x-sf-token": token };

  return {
    description,
    async runQuery(program, context) {
      const stop = Date.now();
      const response = await askBackend(description, settings, {
        method: "POST",
        url: apiUrl(stream, "v2/signalflow/execute", {
          start: String(stop - WINDOW_INTERVALS * context.intervalMs),
          stop: String(stop),
          immediate: "true",
        }),
        headers: { ...headers, "content-type": "text/plain", accept: "text/event-stream" },
        body: program,
      });
      if (response.statusCode < 200 || response.statusCode > 299) {
        let detail: string | undefined;
        try {
          detail = (JSON.parse(response.body) as { message?: string }).message;
        } catch {
          detail = undefined;
        }
        throw new MetricQueryError(
          response.statusCode === 400 ? "query" : "http",
          httpErrorMessage(description, response, detail),
        );
      }
      if (response.truncated) {
        throw new MetricQueryError(
          "query",
          `${description} streamed more than this provider reads: make the program publish one stream`,
        );
      }
      const latest = latestByStream(serverSentEvents(response.body), description);
      return singleValue([...latest.values()], program, ONE_VALUE_HINT);
    },
    async isOnline() {
      await getJson<{ message?: string }>(
        `Splunk Observability at ${api}`,
        settings,
        apiUrl(api, "v2/metric", { limit: "1" }),
        { ...headers, accept: "application/json" },
        (answer) => answer.message,
      );
    },
  };
}
