/**
 * Amazon CloudWatch's GetMetricData. The query is a JSON list of MetricDataQueries, exactly one
 * of which returns data (the others set `"ReturnData": false`); the value is that query's newest
 * datapoint. As in Flagger, the window is ten times the metric's interval, because CloudWatch
 * publishes a period's datapoint only after the period ends. Credentials come the AWS way (the
 * SDK's default chain: environment, web identity, container or instance role), never from a
 * Secret; `provider.address` overrides the endpoint (a VPC endpoint, an emulator).
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
} from "@aws-sdk/client-cloudwatch";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { formatDuration } from "../../src/api/duration.ts";
import { errorMessage } from "../../src/log.ts";
import { checkLiteral, denyLocalLookup } from "../../src/net/destination.ts";
import { cancellationSignal, describeTransportError, HttpFailure } from "../analysis-http.ts";
import { type MetricProvider, MetricQueryError, type ProviderSettings, singleValue } from "./provider.ts";

/** Flagger's window: ten intervals back from now. */
const WINDOW_INTERVALS = 10;
const MAX_ATTEMPTS = 3;
const QUERY_FORMAT =
  'a JSON list of CloudWatch MetricDataQueries, such as [{"Id": "e1", "Expression": "m1 / m2"}, {"Id": "m1", "MetricStat": {...}, "ReturnData": false}, ...]';
const ONE_VALUE_HINT = 'set "ReturnData": false on every query but the one whose value counts';

/** Clients kept for reuse, so credentials and connections are not fetched again for every check. */
const MAX_CLIENTS = 16;
const clients = new Map<string, CloudWatchClient>();

/**
 * The SDK's default credential chain, called without this client's configuration: given it, the
 * chain fetches credentials (STS, instance metadata) through the client's connections, so a
 * template's insecureSkipVerify would also stop verifying STS, which receives the pod's
 * service-account token.
 */
function ownConnectionsChain(): () => ReturnType<ReturnType<typeof defaultProvider>> {
  const chain = defaultProvider();
  return () =>
    chain().catch((error: unknown) => {
      throw new CredentialsUnavailable(errorMessage(error), { cause: error });
    });
}

/** The credential chain failed (no source, or STS or the metadata service refused): not CloudWatch's fault. */
class CredentialsUnavailable extends Error {}

function clientFor(region: string, settings: ProviderSettings): CloudWatchClient {
  const { address, insecureSkipVerify, denyLocal } = settings;
  const key = JSON.stringify([region, address, insecureSkipVerify, denyLocal]);
  let client = clients.get(key);
  if (client === undefined) {
    const lookup = denyLocal ? { lookup: denyLocalLookup } : {};
    client = new CloudWatchClient({
      region,
      maxAttempts: MAX_ATTEMPTS,
      credentials: ownConnectionsChain(),
      ...(address === undefined ? {} : { endpoint: address }),
      requestHandler: {
        httpAgent: new HttpAgent({ keepAlive: true, ...lookup }),
        httpsAgent: new HttpsAgent({ keepAlive: true, rejectUnauthorized: !insecureSkipVerify, ...lookup }),
      },
    });
    if (clients.size >= MAX_CLIENTS) {
      const [oldestKey, oldest] = clients.entries().next().value as [string, CloudWatchClient];
      clients.delete(oldestKey);
      oldest.destroy();
    }
    clients.set(key, client);
  }
  return client;
}

/** The query as MetricDataQueries, and the Id of the one that returns data. */
export function parseQueries(query: string): { queries: MetricDataQuery[]; returning: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(query);
  } catch (error) {
    throw new MetricQueryError(
      "query",
      `the query is not JSON (${errorMessage(error)}): write ${QUERY_FORMAT}`,
    );
  }
  const isQuery = (item: unknown): item is MetricDataQuery =>
    typeof item === "object" && item !== null && typeof (item as { Id?: unknown }).Id === "string";
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(isQuery)) {
    throw new MetricQueryError("query", `the query must be ${QUERY_FORMAT}, each with an "Id"`);
  }
  const returning = parsed.filter((q) => q.ReturnData !== false).map((q) => q.Id as string);
  if (returning.length !== 1) {
    throw new MetricQueryError(
      "query",
      returning.length === 0
        ? 'no query returns data: leave "ReturnData" unset (or true) on the one whose value counts'
        : `${returning.length} queries return data (${returning.join(", ")}): ${ONE_VALUE_HINT}`,
    );
  }
  return { queries: parsed, returning: returning[0] as string };
}

/** The newest datapoint of the result for `id`, if it has any. */
function newest(output: GetMetricDataCommandOutput, id: string, description: string): number[] {
  const result = output.MetricDataResults?.find((r) => r.Id === id);
  if (result?.StatusCode === "Forbidden" || result?.StatusCode === "InternalError") {
    const messages = (result.Messages ?? []).map((m) => m.Value).join("; ");
    throw new MetricQueryError(
      "http",
      `${description} answered ${result.StatusCode} for query ${id}${messages ? `: ${messages}` : ""}`,
    );
  }
  const values = result?.Values ?? [];
  const times = result?.Timestamps ?? [];
  // The newest by timestamp, whatever order the answer lists them in.
  let latest: number | undefined;
  let latestAt = Number.NEGATIVE_INFINITY;
  for (const [i, value] of values.entries()) {
    const at = times[i]?.getTime() ?? Number.NEGATIVE_INFINITY;
    if (latest === undefined || at > latestAt) [latest, latestAt] = [value, at];
  }
  return latest === undefined ? [] : [latest];
}

export function cloudWatchProvider(settings: ProviderSettings): MetricProvider {
  const { region, address } = settings;
  if (region === undefined) {
    throw new MetricQueryError(
      "config",
      "the cloudwatch provider needs provider.region, the AWS region of the metrics (such as us-east-1)",
    );
  }
  const description = `CloudWatch in ${region}${address === undefined ? "" : ` at ${address}`}`;

  /** Sends a GetMetricData request; every failure becomes a MetricQueryError saying what to fix. */
  async function getMetricData(input: GetMetricDataCommand["input"]): Promise<GetMetricDataCommandOutput> {
    // IP literals never reach the lookup hook: check them here.
    if (settings.denyLocal && address !== undefined) checkLiteral(new URL(address).hostname);
    const timeout = AbortSignal.timeout(settings.timeoutMs);
    const cancelled = cancellationSignal();
    const abortSignal = cancelled === undefined ? timeout : AbortSignal.any([timeout, cancelled]);
    try {
      return await clientFor(region as string, settings).send(new GetMetricDataCommand(input), {
        abortSignal,
      });
    } catch (error) {
      if (cancelled?.aborted) throw new HttpFailure("cancelled", "cancelled");
      if (timeout.aborted) {
        throw new MetricQueryError(
          "unreachable",
          `${description} did not answer within ${formatDuration(settings.timeoutMs)}`,
        );
      }
      throw describe(error, description, address ?? `https://monitoring.${region}.amazonaws.com`);
    }
  }

  return {
    description,
    async runQuery(query, context) {
      const { queries, returning } = parseQueries(query);
      const end = new Date();
      const window = WINDOW_INTERVALS * context.intervalMs;
      const output = await getMetricData({
        MetricDataQueries: queries,
        StartTime: new Date(end.getTime() - window),
        EndTime: end,
        ScanBy: "TimestampDescending",
      });
      const values = newest(output, returning, description);
      if (values.length === 0) {
        throw new MetricQueryError(
          "no-data",
          `no datapoints for query ${returning} in the last ${formatDuration(window)} (is the canary receiving traffic? are the metric's namespace, name and dimensions right?)`,
        );
      }
      return singleValue(values, query);
    },
    async isOnline() {
      // As Flagger: an empty request that only a reachable CloudWatch, with credentials allowed
      // to call GetMetricData, answers with a validation error (or, leniently, with success).
      try {
        await getMetricData({ MetricDataQueries: [], StartTime: new Date(0), EndTime: new Date(0) });
      } catch (error) {
        if (error instanceof MetricQueryError && error.kind === "query") return;
        throw error;
      }
    },
  };
}

/** An SDK failure in words: the query's fault (400), a refused identity, or no connection. */
function describe(error: unknown, description: string, endpoint: string): MetricQueryError {
  if (error instanceof CredentialsUnavailable) {
    return new MetricQueryError(
      "config",
      `no AWS credentials for ${description}: give the operator an AWS identity (an IAM role for its service account, an instance or container role, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment) with cloudwatch:GetMetricData (${error.message})`,
    );
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (error instanceof Error && status !== undefined) {
    const detail = `${error.name}: ${error.message}`;
    // AWS answers some identity failures with 400 too: those are not the query's fault.
    const identity = /Signature|Token|Credential|AccessDenied|UnrecognizedClient/.test(error.name);
    if (status === 400 && !identity) {
      return new MetricQueryError("query", `${description} rejected the query: ${detail}`);
    }
    const hint =
      status === 400 || status === 401 || status === 403
        ? " (check the operator's AWS identity and its cloudwatch:GetMetricData permission)"
        : "";
    return new MetricQueryError("http", `${description} answered HTTP ${status}${hint}: ${detail}`);
  }
  const failure = describeTransportError(error, endpoint);
  const hint = failure.kind === "tls" ? " (set insecureSkipVerify: true to skip verification)" : "";
  return new MetricQueryError("unreachable", `cannot query ${description}: ${failure.message}${hint}`);
}
