/**
 * The stackdriver provider against a local server that plays the Cloud Monitoring API
 * (timeSeries:query, MQL) and the GKE metadata server (Workload Identity's token endpoint). The
 * API checks every bearer: a self-signed JWT must verify with the service account key's public
 * half and carry the monitoring scope; a metadata token must be one the metadata server issued.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject, verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { json, metricsTarget, namespaceWithSecrets, providerSettings } from "./metric-provider-support.ts";
import { type Recorded, startReceiver } from "./webhooks-servers.ts";

const namespace = `metrics-stackdriver-${process.pid}`;
const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig() });
const SCOPE = "https://www.googleapis.com/auth/monitoring.read";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const account = "canary-reader@my-project.iam.gserviceaccount.com";
const serviceAccountKey = JSON.stringify({
  type: "service_account",
  project_id: "my-project",
  private_key_id: "key-1",
  private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
  client_email: account,
  token_uri: "https://oauth2.googleapis.com/token",
});

const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

/** Whether `token` is a self-signed JWT of the account, signed with `key`, for the monitoring scope. */
function validSelfSignedJwt(token: string, key: KeyObject): boolean {
  const [header, payload, signature] = token.split(".");
  if (header === undefined || payload === undefined || signature === undefined) return false;
  const signed = verify(
    "RSA-SHA256",
    Buffer.from(`${header}.${payload}`),
    key,
    Buffer.from(signature, "base64url"),
  );
  const claims = decode(payload);
  return (
    signed &&
    decode(header).kid === "key-1" &&
    claims.iss === account &&
    claims.sub === account &&
    String(claims.scope).split(" ").includes(SCOPE) &&
    claims.exp * 1000 > Date.now()
  );
}

const unauthenticated = json(
  {
    error: {
      code: 401,
      message: "Request had invalid authentication credentials.",
      status: "UNAUTHENTICATED",
    },
  },
  401,
);

/** MQL answers by what the query asks for. */
function answer(query: string) {
  const series = (...values: unknown[]) => ({
    labelValues: [{ stringValue: "podinfo" }],
    pointData: values.map((value) => ({ values: [value] })),
  });
  if (query === "") {
    return json({ error: { code: 400, message: "Query is empty.", status: "INVALID_ARGUMENT" } }, 400);
  }
  if (query.startsWith("fetch bogus")) {
    return json(
      {
        error: {
          code: 400,
          message: "Line 1, column 7: table 'bogus' not found",
          status: "INVALID_ARGUMENT",
        },
      },
      400,
    );
  }
  if (query.includes("nothing")) return json({ timeSeriesDescriptor: {} });
  if (query.includes("by_pod")) {
    return json({ timeSeriesData: [series({ doubleValue: 1 }), series({ doubleValue: 2 })] });
  }
  if (query.includes("distribution")) {
    return json({ timeSeriesData: [series({ distributionValue: { count: "3" } })] });
  }
  if (query.includes("count")) return json({ timeSeriesData: [series({ int64Value: "17" })] });
  // Points newest first, as the API lists them.
  return json({ timeSeriesData: [series({ doubleValue: 0.42 }, { doubleValue: 9 })] });
}

describe("stackdriver metric provider", () => {
  const issued = new Set<string>();
  let server: Awaited<ReturnType<typeof startReceiver>>;
  let cluster: Awaited<ReturnType<typeof namespaceWithSecrets>>;
  const saved = { host: process.env.GCE_METADATA_HOST, detection: process.env.METADATA_SERVER_DETECTION };

  const queries = () =>
    server.requests.filter((r) => r.url.includes("timeSeries:query")).map((r) => JSON.parse(r.body).query);

  before(async () => {
    cluster = await namespaceWithSecrets(namespace, {
      "gcloud-sa": { project: "my-project", serviceAccountKey },
      "gcloud-wi": { project: "my-project" },
      "gcloud-broken": { project: "my-project", serviceAccountKey: "{not json" },
      "no-project": { serviceAccountKey },
    });
    server = await startReceiver();
    server.respond((request: Recorded) => {
      const url = new URL(request.url, server.url);
      if (url.pathname === "/computeMetadata/v1/instance/service-accounts/default/token") {
        if (request.headers["metadata-flavor"] !== "Google") return { status: 403 };
        const token = `ya29.issued-${issued.size + 1}`;
        issued.add(token);
        const answer = json({ access_token: token, expires_in: 3600, token_type: "Bearer" });
        return { ...answer, headers: { ...answer.headers, "metadata-flavor": "Google" } };
      }
      const match = /^\/v3\/projects\/([^/]+)\/timeSeries:query$/.exec(url.pathname);
      if (request.method !== "POST" || match === null) return { status: 404 };
      const bearer = String(request.headers.authorization ?? "").replace(/^Bearer /, "");
      if (!issued.has(bearer) && !validSelfSignedJwt(bearer, publicKey)) return unauthenticated;
      if (match[1] !== "my-project") {
        return json(
          {
            error: {
              code: 403,
              message: `Permission monitoring.timeSeries.list denied`,
              status: "PERMISSION_DENIED",
            },
          },
          403,
        );
      }
      return answer(JSON.parse(request.body).query);
    });
    // The operator's own credentials: the metadata server of a GKE node with Workload Identity.
    process.env.GCE_METADATA_HOST = new URL(server.url).host;
    process.env.METADATA_SERVER_DETECTION = "assume-present";
  });
  after(async () => {
    for (const [name, value] of [
      ["GCE_METADATA_HOST", saved.host],
      ["METADATA_SERVER_DETECTION", saved.detection],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await server.close();
    await cluster.remove();
  });

  const template = (name: string, secret: string, query: string) =>
    templates.set(`${namespace}/${name}`, {
      provider: { type: "stackdriver", address: server.url, secretRef: { name: secret } },
      query,
    });
  const metric = (name: string, max = 1) => ({ name, templateRef: { name }, thresholdRange: { max } });

  test("runs the MQL query for the Secret's project, signed with its service account key; the newest point counts", async () => {
    template(
      "latency",
      "gcloud-sa",
      "fetch k8s_container | metric 'istio.io/service/server/response_latencies' | filter metric.destination_service_name == '{{ service }}-canary'",
    );
    const [result] = await runMetrics(metricsTarget(namespace, [metric("latency")]));
    assert.deepEqual([result?.verdict, result?.value], ["pass", 0.42]);
    assert.equal(
      queries().at(-1),
      "fetch k8s_container | metric 'istio.io/service/server/response_latencies' | filter metric.destination_service_name == 'podinfo-canary'",
    );
  });

  test("without a key, authenticates with the token the metadata server issues (Workload Identity)", async () => {
    template("requests", "gcloud-wi", "fetch k8s_container | metric 'x' | count");
    const [result] = await runMetrics(metricsTarget(namespace, [metric("requests", 20)]));
    assert.deepEqual([result?.verdict, result?.value, result?.message], ["pass", 17, "requests 17.00 <= 20"]);
    const tokenRequest = server.requests.find((r) => r.url.includes("/service-accounts/default/token"));
    assert.ok(tokenRequest?.url.includes(encodeURIComponent(SCOPE)), tokenRequest?.url);
    const last = server.requests.findLast((r) => r.url.includes("timeSeries:query"));
    assert.ok(issued.has(String(last?.headers.authorization).replace(/^Bearer /, "")));
  });

  test("isOnline: an authorized caller gets INVALID_ARGUMENT for the empty query; a denied one is reported", async () => {
    await createMetricProvider(
      "stackdriver",
      providerSettings(server.url, { project: "my-project", serviceAccountKey }),
    ).isOnline();
    const denied = createMetricProvider(
      "stackdriver",
      providerSettings(server.url, { project: "other-project", serviceAccountKey }),
    );
    await assert.rejects(denied.isOnline(), (error: unknown) => {
      assert.ok(error instanceof MetricQueryError);
      assert.equal(
        error.message,
        `Cloud Monitoring at ${server.url} answered HTTP 403 (check the credentials in the template's secretRef): Permission monitoring.timeSeries.list denied`,
      );
      return true;
    });
  });

  test("a rejected query, no data, several series, a distribution and bad Secrets are failed checks that say why", async () => {
    template("bogus", "gcloud-sa", "fetch bogus");
    template("nothing", "gcloud-sa", "fetch k8s_container | metric 'nothing'");
    template("by-pod", "gcloud-sa", "fetch k8s_container | metric 'x' | group_by [by_pod]");
    template("dist", "gcloud-sa", "fetch k8s_container | metric 'distribution'");
    template("broken", "gcloud-broken", "fetch k8s_container");
    template("no-project", "no-project", "fetch k8s_container");
    const results = await runMetrics(
      metricsTarget(
        namespace,
        ["bogus", "nothing", "by-pod", "dist", "broken", "no-project"].map((n) => metric(n)),
      ),
    );
    assert.deepEqual(
      results.map((r) => [r.verdict, r.message]),
      [
        [
          "error",
          `bogus: Cloud Monitoring at ${server.url} answered HTTP 400: Line 1, column 7: table 'bogus' not found`,
        ],
        [
          "error",
          "nothing: no values found (is the canary receiving traffic?) for query fetch k8s_container | metric 'nothing'",
        ],
        [
          "error",
          "by-pod: the query returned 2 series, not one: group the result into one series (e.g. | group_by [], ...); query fetch k8s_container | metric 'x' | group_by [by_pod]",
        ],
        [
          "error",
          "dist: the query's value is not a number (distributionValue): reduce it to a double or an int64, e.g. with percentile(...) or mean(...)",
        ],
        ["error", `broken: Secret ${namespace}/gcloud-broken: serviceAccountKey is not a JSON key file`],
        ["error", `no-project: Secret ${namespace}/no-project lacks project`],
      ],
    );
  });
});
