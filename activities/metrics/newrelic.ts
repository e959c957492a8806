/**
 * New Relic's Insights query API (NRQL). The template's Secret holds `newrelic_account_id` and
 * `newrelic_query_key`, as Flagger reads them. The value is the one number of the query's one
 * result, whatever NRQL names it (`average`, `percentage`, an `AS` alias). A query without a
 * SINCE clause gets the metric's interval, not NRQL's default of the last hour.
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

const DEFAULT_ADDRESS = "https://insights-api.newrelic.com";
const ACCOUNT_ID = "newrelic_account_id";
const QUERY_KEY = "newrelic_query_key";

interface NewRelicAnswer {
  readonly error?: string;
  readonly results?: readonly Readonly<Record<string, unknown>>[];
  /** Present instead of `results` for FACET and TIMESERIES queries. */
  readonly facets?: unknown;
  readonly timeSeries?: unknown;
}

const ONE_VALUE_HINT = "select one aggregate function, without FACET or TIMESERIES";

/** The numbers in one result row: `{"average": 1.5}`, or `{"percentiles": {"99": 230}}`. */
function numbersIn(row: Readonly<Record<string, unknown>>): number[] {
  return Object.values(row).flatMap((value) => {
    if (typeof value === "number") return [value];
    if (value !== null && typeof value === "object") return numbersIn(value as Record<string, unknown>);
    return [];
  });
}

/** NRQL over the metric's interval unless the query already says which window it wants. */
export function withWindow(query: string, intervalMs: number): string {
  if (/\bSINCE\b/i.test(query)) return query;
  return `${query.trimEnd()} SINCE ${Math.max(1, Math.ceil(intervalMs / 1000))} seconds ago`;
}

export function newRelicProvider(settings: ProviderSettings): MetricProvider {
  const address = settings.address ?? DEFAULT_ADDRESS;
  const description = `New Relic at ${address}`;
  const [account, queryKey] = requiredCredentials(settings, "newrelic", [ACCOUNT_ID, QUERY_KEY]);
  const headers = {
    accept: "application/json",
    ...templateHeaders(settings.headers),
    "x-query-key": queryKey,
  };

  const query = (nrql: string) =>
    getJson<NewRelicAnswer>(
      description,
      settings,
      apiUrl(address, `v1/accounts/${encodeURIComponent(account)}/query`, { nrql }),
      headers,
      (answer) => answer.error,
    );

  return {
    description,
    async runQuery(nrql, context) {
      const windowed = withWindow(nrql, context.intervalMs);
      const answer = await query(windowed);
      if (answer.facets !== undefined || answer.timeSeries !== undefined) {
        throw new MetricQueryError(
          "query",
          `the query returned a series per facet or time: ${ONE_VALUE_HINT}`,
        );
      }
      return singleValue((answer.results ?? []).flatMap(numbersIn), windowed, ONE_VALUE_HINT);
    },
    async isOnline() {
      await query("SELECT count(*) FROM Transaction SINCE 1 minute ago");
    },
  };
}
