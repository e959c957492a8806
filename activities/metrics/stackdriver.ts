/**
 * Google Cloud Monitoring (Stackdriver): the template's query is MQL, run with the Monitoring API's
 * timeSeries:query over REST. The template's Secret holds `project` and, optionally,
 * `serviceAccountKey` (a key JSON), as Flagger reads them; without a key the operator's own Google
 * credentials apply (Workload Identity on GKE, GOOGLE_APPLICATION_CREDENTIALS elsewhere).
 *
 * With a key, requests carry a self-signed JWT with the read-only monitoring scope, as Google's Go
 * client (Flagger's) sends for service-account keys: no token exchange, so no extra round trip.
 */
import { type AuthClient, GoogleAuth, JWT } from "google-auth-library";
import { errorMessage } from "../../src/log.ts";
import { excerpt } from "../analysis-http.ts";
import {
  apiUrl,
  askBackend,
  httpErrorMessage,
  type MetricProvider,
  MetricQueryError,
  type ProviderSettings,
  parseJson,
  requiredCredentials,
  singleValue,
  templateHeaders,
} from "./provider.ts";

const DEFAULT_ADDRESS = "https://monitoring.googleapis.com";
const PROJECT = "project";
const SERVICE_ACCOUNT_KEY = "serviceAccountKey";
const SCOPE = "https://www.googleapis.com/auth/monitoring.read";

interface TypedValue {
  readonly doubleValue?: number;
  /** int64 travels as a decimal string in JSON. */
  readonly int64Value?: string;
}

interface QueryAnswer {
  readonly error?: { readonly message?: string; readonly status?: string };
  readonly timeSeriesData?: readonly {
    readonly pointData?: readonly { readonly values?: readonly TypedValue[] }[];
  }[];
  readonly partialErrors?: readonly { readonly message?: string }[];
}

const ONE_VALUE_HINT = "group the result into one series (e.g. | group_by [], ...)";

/** The key JSON's service account, or a config error saying what is wrong with it. */
function serviceAccount(json: string, source: string): JWT {
  let key: { client_email?: unknown; private_key?: unknown; private_key_id?: unknown };
  try {
    key = JSON.parse(json);
  } catch {
    throw new MetricQueryError("config", `${source}: ${SERVICE_ACCOUNT_KEY} is not a JSON key file`);
  }
  if (typeof key.client_email !== "string" || typeof key.private_key !== "string") {
    throw new MetricQueryError(
      "config",
      `${source}: ${SERVICE_ACCOUNT_KEY} lacks client_email or private_key: use a service account key (JSON) from the Cloud console`,
    );
  }
  const client = new JWT({
    email: key.client_email,
    key: key.private_key,
    ...(typeof key.private_key_id === "string" ? { keyId: key.private_key_id } : {}),
    scopes: [SCOPE],
  });
  client.useJWTAccessWithScope = true;
  return client;
}

/** The newest point's number: MQL lists a series' points newest first. */
function newestValue(values: readonly TypedValue[] | undefined): number[] {
  const [first] = values ?? [];
  if (first?.doubleValue !== undefined) return [first.doubleValue];
  if (first?.int64Value !== undefined) return [Number(first.int64Value)];
  if (first !== undefined) {
    throw new MetricQueryError(
      "query",
      `the query's value is not a number (${Object.keys(first).join(", ")}): reduce it to a double or an int64, e.g. with percentile(...) or mean(...)`,
    );
  }
  return [];
}

/**
 * The operator's own Google credentials, found once and shared by every template without a key,
 * so their access token is reused until it expires. Looked up on first use, and again after a
 * failure.
 */
let environmentClient: Promise<AuthClient> | undefined;
function operatorCredentials(): Promise<AuthClient> {
  environmentClient ??= new GoogleAuth({ scopes: [SCOPE] }).getClient();
  return environmentClient;
}

export function stackdriverProvider(settings: ProviderSettings): MetricProvider {
  const address = settings.address ?? DEFAULT_ADDRESS;
  const description = `Cloud Monitoring at ${address}`;
  const [project] = requiredCredentials(settings, "stackdriver", [PROJECT]);
  const key = settings.credentials?.[SERVICE_ACCOUNT_KEY];
  const keyClient = key ? serviceAccount(key, settings.credentialsSource) : undefined;
  const url = apiUrl(address, `v3/projects/${encodeURIComponent(project)}/timeSeries:query`, {});

  async function authorization(): Promise<string> {
    try {
      const client = keyClient ?? (await operatorCredentials());
      const headers = await client.getRequestHeaders(url);
      const value = headers.get("authorization");
      if (value === null) throw new Error("the credentials produced no authorization header");
      return value;
    } catch (error) {
      if (keyClient === undefined) environmentClient = undefined;
      const source = keyClient
        ? `the ${SERVICE_ACCOUNT_KEY} in ${settings.credentialsSource}`
        : "the operator's Google credentials (Workload Identity, or GOOGLE_APPLICATION_CREDENTIALS)";
      throw new MetricQueryError(
        "config",
        `cannot authenticate to ${description} with ${source}: ${excerpt(errorMessage(error), 300)}`,
      );
    }
  }

  async function query(mql: string) {
    const response = await askBackend(description, settings, {
      method: "POST",
      url,
      headers: {
        accept: "application/json",
        "content-type": "application/json",
        ...templateHeaders(settings.headers),
        authorization: await authorization(),
      },
      body: JSON.stringify({ query: mql }),
    });
    return { response, answer: parseJson(description, response) as QueryAnswer };
  }

  return {
    description,
    async runQuery(mql) {
      const { response, answer } = await query(mql);
      if (response.statusCode < 200 || response.statusCode > 299) {
        throw new MetricQueryError(
          response.statusCode === 400 ? "query" : "http",
          httpErrorMessage(description, response, answer.error?.message),
        );
      }
      const partial = (answer.partialErrors ?? []).flatMap((e) => (e.message ? [e.message] : []));
      const series = answer.timeSeriesData ?? [];
      if (series.length === 0 && partial.length > 0) {
        throw new MetricQueryError("query", `${description} found no data: ${partial.join("; ")}`);
      }
      const values = series.flatMap((s) => newestValue(s.pointData?.[0]?.values));
      return singleValue(values, mql, ONE_VALUE_HINT);
    },
    async isOnline() {
      // An empty query is refused as INVALID_ARGUMENT once the caller is authenticated and
      // authorized; any other refusal (PERMISSION_DENIED, UNAUTHENTICATED) is what to report.
      const { response, answer } = await query("");
      const ok = response.statusCode >= 200 && response.statusCode <= 299;
      if (!ok && answer.error?.status !== "INVALID_ARGUMENT") {
        throw new MetricQueryError("http", httpErrorMessage(description, response, answer.error?.message));
      }
    },
  };
}
