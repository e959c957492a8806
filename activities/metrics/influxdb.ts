/**
 * InfluxDB's Flux query API (`POST /api/v2/query`, InfluxDB 2 and InfluxDB 1.8+ with Flux
 * enabled). As in Flagger, the template's Secret holds `token` and `org`; without a secretRef the
 * query goes unauthenticated and without an organization (InfluxDB 1.x). The query sets its own
 * window with `range(start: -{{ interval }})`. The value is the last non-null `_value` of the one
 * table the query returns.
 */
import { excerpt } from "../analysis-http.ts";
import { FluxCsvError, type FluxTable, fluxTables } from "./flux-csv.ts";
import {
  apiUrl,
  askBackend,
  httpErrorMessage,
  type MetricProvider,
  MetricQueryError,
  type ProviderSettings,
  requiredCredentials,
  singleValue,
  templateHeaders,
} from "./provider.ts";

const TOKEN = "token";
const ORG = "org";
const NUMERIC = new Set(["double", "long", "unsignedLong"]);
const ONE_VALUE_HINT = "group() the result or aggregate it (e.g. sum(), last()) so that one table remains";
/** Lists at most one bucket: needs a valid token and organization, and no bucket of a given name. */
const ONLINE_QUERY = "buckets() |> limit(n: 1)";

/** Flux writes special floats as words. */
function parseNumber(cell: string): number {
  if (cell === "+Inf") return Number.POSITIVE_INFINITY;
  if (cell === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(cell);
}

/** The last non-null `_value` of a table, if it has one. */
function lastValue(table: FluxTable, query: string): number[] {
  if (!table.columns.includes("_value")) {
    throw new MetricQueryError(
      "query",
      `table ${table.id} has no _value column (it has ${table.columns.filter(Boolean).join(", ")}): keep the value in _value; query ${excerpt(query, 240)}`,
    );
  }
  if (table.datatype !== undefined && !NUMERIC.has(table.datatype)) {
    throw new MetricQueryError(
      "query",
      `_value of table ${table.id} is a ${table.datatype}, not a number; query ${excerpt(query, 240)}`,
    );
  }
  const last = table.values.findLast((value) => value !== undefined);
  return last === undefined ? [] : [parseNumber(last)];
}

export function influxDbProvider(settings: ProviderSettings): MetricProvider {
  const { address } = settings;
  if (address === undefined) {
    throw new MetricQueryError(
      "config",
      "the influxdb provider needs provider.address, the InfluxDB URL (such as http://influxdb.monitoring:8086)",
    );
  }
  const description = `InfluxDB at ${address}`;
  const [token, org] =
    settings.credentials === undefined ? [] : requiredCredentials(settings, "influxdb", [TOKEN, ORG]);
  const headers = {
    ...templateHeaders(settings.headers),
    accept: "application/csv",
    "content-type": "application/json",
    ...(token === undefined ? {} : { authorization: `Token ${token}` }),
  };
  const url = apiUrl(address, "api/v2/query", org === undefined ? {} : { org });

  async function query(flux: string): Promise<FluxTable[]> {
    const response = await askBackend(description, settings, {
      method: "POST",
      url,
      headers,
      body: JSON.stringify({
        query: flux,
        type: "flux",
        dialect: { header: true, annotations: ["datatype", "group", "default"] },
      }),
    });
    if (response.statusCode < 200 || response.statusCode > 299) {
      // InfluxDB explains a failure as {"code": "invalid", "message": "..."}.
      let detail: string | undefined;
      try {
        detail = (JSON.parse(response.body) as { message?: string }).message;
      } catch {}
      throw new MetricQueryError(
        response.statusCode === 400 ? "query" : "http",
        httpErrorMessage(description, response, detail),
      );
    }
    if (response.truncated) {
      throw new MetricQueryError("query", `${description} answered too much data: ${ONE_VALUE_HINT}`);
    }
    try {
      return fluxTables(response.body);
    } catch (error) {
      if (error instanceof FluxCsvError) {
        throw new MetricQueryError("query", `${description} failed the query: ${error.message}`);
      }
      throw error;
    }
  }

  return {
    description,
    async runQuery(flux) {
      const tables = await query(flux);
      return singleValue(
        tables.flatMap((table) => lastValue(table, flux)),
        flux,
        ONE_VALUE_HINT,
      );
    },
    async isOnline() {
      await query(ONLINE_QUERY);
    },
  };
}
