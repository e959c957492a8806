/**
 * Graphite's render API (JSON) over the metric's interval. Optional basic auth from the template's
 * Secret (`username`, `password`); the value is the newest non-null point of the one series.
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

type GraphiteAnswer = readonly {
  readonly target?: string;
  readonly datapoints?: readonly (readonly [number | null, number])[];
}[];

export function graphiteProvider(settings: ProviderSettings): MetricProvider {
  const { address } = settings;
  if (address === undefined) throw new MetricQueryError("config", "the graphite provider needs an address");
  const description = `Graphite at ${address}`;
  const headers: Record<string, string | string[]> = { ...templateHeaders(settings.headers) };
  const secret = settings.credentials;
  if (secret !== undefined) {
    if (!secret.username || !secret.password) {
      throw new MetricQueryError(
        "config",
        `${settings.credentialsSource} lacks "username" and "password" keys`,
      );
    }
    headers.authorization = `Basic ${Buffer.from(`${secret.username}:${secret.password}`).toString("base64")}`;
  }

  async function get(path: string, params: Record<string, string>) {
    const response = await askBackend(description, settings, {
      method: "GET",
      url: apiUrl(address as string, path, params),
      headers,
    });
    if (response.statusCode < 200 || response.statusCode > 299) {
      // Graphite answers a bad target with 400 and a plain-text or HTML explanation.
      throw new MetricQueryError(
        response.statusCode === 400 ? "query" : "http",
        httpErrorMessage(description, response),
      );
    }
    return response;
  }

  return {
    description,
    async runQuery(query, context) {
      const seconds = Math.max(1, Math.ceil(context.intervalMs / 1000));
      const response = await get("render", {
        target: query,
        from: `-${seconds}s`,
        until: "now",
        format: "json",
      });
      const answer = parseJson(description, response);
      if (!Array.isArray(answer)) {
        throw new MetricQueryError("http", `${description} answered something other than a list of series`);
      }
      const latest = (answer as GraphiteAnswer).flatMap((series) => {
        const last = (series.datapoints ?? []).filter((point) => point[0] !== null).at(-1);
        return last === undefined ? [] : [last[0] as number];
      });
      return singleValue(latest, query);
    },
    async isOnline() {
      await get("version", {});
    },
  };
}
