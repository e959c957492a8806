/**
 * Datadog's metrics query API (v1 timeseries query over the metric's interval). The template's
 * Secret holds the keys under `datadog_api_key` and `datadog_application_key`, as Flagger reads
 * them; the value is the newest point of the one series the query returns.
 */
import {
  apiUrl,
  askBackend,
  httpErrorMessage,
  type MetricProvider,
  MetricQueryError,
  type ProviderSettings,
  parseJson,
  singleValue,
  templateHeaders,
} from "./provider.ts";

const DEFAULT_ADDRESS = "https://api.datadoghq.com";
const API_KEY = "datadog_api_key";
const APPLICATION_KEY = "datadog_application_key";

interface DatadogAnswer {
  readonly status?: string;
  readonly error?: string;
  readonly errors?: readonly string[];
  readonly series?: readonly { readonly pointlist?: readonly (readonly [number, number | null])[] }[];
}

export function datadogProvider(settings: ProviderSettings): MetricProvider {
  const address = settings.address ?? DEFAULT_ADDRESS;
  const description = `Datadog at ${address}`;
  const keys = settings.credentials;
  const apiKey = keys?.[API_KEY];
  const applicationKey = keys?.[APPLICATION_KEY];
  if (!apiKey || !applicationKey) {
    throw new MetricQueryError(
      "config",
      keys === undefined
        ? `the datadog provider needs a secretRef to a Secret with the keys ${API_KEY} and ${APPLICATION_KEY}`
        : `${settings.credentialsSource} lacks ${!apiKey ? API_KEY : APPLICATION_KEY}`,
    );
  }
  const headers = {
    accept: "application/json",
    ...templateHeaders(settings.headers),
    "dd-api-key": apiKey,
    "dd-application-key": applicationKey,
  };

  async function get(path: string, params: Record<string, string>): Promise<DatadogAnswer> {
    const response = await askBackend(description, {
      method: "GET",
      url: apiUrl(address, path, params),
      headers,
      timeoutMs: settings.timeoutMs,
      insecure: settings.insecureSkipVerify,
    });
    const answer = parseJson(description, response) as DatadogAnswer;
    if (response.statusCode < 200 || response.statusCode > 299) {
      const detail = answer.errors?.join("; ") ?? answer.error;
      const kind = response.statusCode === 400 ? "query" : "http";
      throw new MetricQueryError(kind, httpErrorMessage(description, response, detail));
    }
    return answer;
  }

  return {
    description,
    async runQuery(query, context) {
      const to = Math.floor(Date.now() / 1000);
      const from = to - Math.max(1, Math.ceil(context.intervalMs / 1000));
      const answer = await get("api/v1/query", { from: String(from), to: String(to), query });
      if (answer.status === "error") {
        throw new MetricQueryError(
          "query",
          `${description} rejected the query: ${answer.error ?? "no detail"}`,
        );
      }
      const latest = (answer.series ?? []).flatMap((series) => {
        const points = (series.pointlist ?? []).filter((point) => point[1] !== null);
        const last = points.at(-1);
        return last === undefined ? [] : [last[1] as number];
      });
      return singleValue(latest, query);
    },
    async isOnline() {
      const answer = (await get("api/v1/validate", {})) as { valid?: boolean };
      if (answer.valid !== true)
        throw new MetricQueryError("http", `${description} did not accept the API key`);
    },
  };
}
