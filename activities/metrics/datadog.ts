/**
 * Datadog's metrics query API (v1 timeseries query over the metric's interval). The template's
 * Secret holds the keys under `datadog_api_key` and `datadog_application_key`, as Flagger reads
 * them; the value is the newest point of the one series the query returns.
 */
import {
  apiUrl,
  getJson,
  type MetricProvider,
  MetricQueryError,
  type ProviderSettings,
  requiredCredentials,
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
  const [apiKey, applicationKey] = requiredCredentials(settings, "datadog", [API_KEY, APPLICATION_KEY]);
  const headers = {
    accept: "application/json",
    ...templateHeaders(settings.headers),
    "dd-api-key": apiKey,
    "dd-application-key": applicationKey,
  };

  const get = (path: string, params: Record<string, string>) =>
    getJson<DatadogAnswer>(
      description,
      settings,
      apiUrl(address, path, params),
      headers,
      (answer) => answer.errors?.join("; ") ?? answer.error,
    );

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
