/**
 * Prometheus (and anything speaking its HTTP API: Thanos, Mimir, VictoriaMetrics) through the
 * instant query endpoint. Credentials come from the template's Secret: `token` for a bearer token,
 * or `username` and `password` for basic auth.
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

interface PrometheusAnswer {
  readonly status?: string;
  readonly errorType?: string;
  readonly error?: string;
  readonly data?: { readonly resultType?: string; readonly result?: unknown };
}

export function prometheusProvider(settings: ProviderSettings): MetricProvider {
  const { address } = settings;
  if (address === undefined) {
    throw new MetricQueryError("config", "the prometheus provider needs an address");
  }
  const description = `Prometheus at ${address}`;
  const headers = { ...templateHeaders(settings.headers), ...authorization(settings) };

  async function query(promql: string): Promise<number> {
    const response = await askBackend(description, settings, {
      method: "GET",
      url: apiUrl(address as string, "api/v1/query", { query: promql }),
      headers: { accept: "application/json", ...headers },
    });
    // Prometheus reports query errors as JSON with a 4xx/5xx status; anything else is not Prometheus speaking.
    const answer = parseJson(description, response) as PrometheusAnswer;
    if (answer.status === "error") {
      const kind = response.statusCode === 400 || response.statusCode === 422 ? "query" : "http";
      throw new MetricQueryError(
        kind,
        kind === "query"
          ? `${description} rejected the query (${answer.errorType ?? "error"}): ${answer.error ?? "no detail"}`
          : httpErrorMessage(description, response, answer.error),
      );
    }
    if (response.statusCode < 200 || response.statusCode > 299 || answer.status !== "success") {
      throw new MetricQueryError("http", httpErrorMessage(description, response));
    }
    return singleValue(values(answer, description), promql);
  }

  return {
    description,
    runQuery: (promql) => query(promql),
    async isOnline() {
      const one = await query("vector(1)");
      if (one !== 1) throw new MetricQueryError("http", `${description} answered vector(1) with ${one}`);
    },
  };
}

function authorization(settings: ProviderSettings): Record<string, string> {
  const secret = settings.credentials;
  if (secret === undefined) return {};
  if (secret.token) return { authorization: `Bearer ${secret.token.trim()}` };
  if (secret.username && secret.password) {
    return {
      authorization: `Basic ${Buffer.from(`${secret.username}:${secret.password}`).toString("base64")}`,
    };
  }
  throw new MetricQueryError(
    "config",
    `${settings.credentialsSource} has neither a "token" key nor "username" and "password" keys`,
  );
}

/** Sample values of an instant vector, or the scalar. */
function values(answer: PrometheusAnswer, description: string): number[] {
  const type = answer.data?.resultType;
  const result = answer.data?.result;
  if (type === "scalar" && Array.isArray(result)) return [Number(result[1])];
  if (type === "vector" && Array.isArray(result)) {
    return result.map((sample: { value?: [number, string] }) => Number(sample.value?.[1]));
  }
  throw new MetricQueryError(
    "query",
    `${description} returned a ${type ?? "malformed"} result; the query must return an instant vector or a scalar`,
  );
}
