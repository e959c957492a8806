/**
 * Dynatrace's metrics API v2: the template's query is a metric selector, read over the metric's
 * interval at resolution Inf (one point per series). The token comes from the template's Secret
 * under `dynatrace_token`, as Flagger reads it; the address is the environment's URL.
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

const TOKEN = "dynatrace_token";

interface DynatraceAnswer {
  readonly error?: {
    readonly message?: string;
    readonly constraintViolations?: readonly { message?: string }[];
  };
  readonly result?: readonly {
    readonly data?: readonly { readonly values?: readonly (number | null)[] }[];
  }[];
}

function errorDetail(answer: DynatraceAnswer): string | undefined {
  const { error } = answer;
  if (error === undefined) return undefined;
  const violations = (error.constraintViolations ?? []).flatMap((v) => (v.message ? [v.message] : []));
  return [error.message, ...violations].filter(Boolean).join("; ") || undefined;
}

export function dynatraceProvider(settings: ProviderSettings): MetricProvider {
  const { address } = settings;
  if (address === undefined) {
    throw new MetricQueryError(
      "config",
      "the dynatrace provider needs an address: the environment's URL (https://<id>.live.dynatrace.com)",
    );
  }
  const description = `Dynatrace at ${address}`;
  const [token] = requiredCredentials(settings, "dynatrace", [TOKEN]);
  const headers = {
    accept: "application/json",
    ...templateHeaders(settings.headers),
    authorization: `Api-Token ${token}`,
  };

  const get = (path: string, params: Record<string, string>) =>
    getJson<DynatraceAnswer>(description, settings, apiUrl(address, path, params), headers, errorDetail);

  return {
    description,
    async runQuery(selector, context) {
      const answer = await get("api/v2/metrics/query", {
        metricSelector: selector,
        from: `now-${Math.max(1, Math.ceil(context.intervalMs / 1000))}s`,
        resolution: "Inf",
      });
      // The newest non-null point of each series; Dynatrace reports gaps as null.
      const values = (answer.result ?? []).flatMap((metric) =>
        (metric.data ?? []).flatMap((series) => {
          const points = (series.values ?? []).filter((value): value is number => value !== null);
          const last = points.at(-1);
          return last === undefined ? [] : [last];
        }),
      );
      return singleValue(values, selector, "merge the dimensions (e.g. append :splitBy())");
    },
    async isOnline() {
      await get("api/v2/metrics", { pageSize: "1" });
    },
  };
}
