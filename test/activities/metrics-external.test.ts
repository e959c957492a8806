/**
 * The externalmetrics provider against a local HTTPS server that serves the external metrics API
 * (external.metrics.k8s.io/v1beta1), reached two ways: registered in the test world's API server
 * as an APIService (its aggregation layer proxies the operator's requests to it, after RBAC), and
 * directly at `provider.address` with the bearer token from the template's Secret.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import { waitFor } from "../harness/process.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { admin, operatorClient, testNamespace } from "./kube-support.ts";
import { json, metricsTarget, providerSettings } from "./metric-provider-support.ts";
import { type Receiver, type Recorded, startReceiver } from "./webhooks-servers.ts";

const namespace = testNamespace("metrics-external");
const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig(), kube: operatorClient() });
const GROUP_VERSION = "external.metrics.k8s.io/v1beta1";
const TOKEN = "adapter-token";
const API_SERVICES: ResourceType = {
  group: "apiregistration.k8s.io",
  version: "v1",
  plural: "apiservices",
  kind: "APIService",
  clusterScoped: true,
};
const SERVICES: ResourceType = { group: "", version: "v1", plural: "services", kind: "Service" };
const API_SERVICE = `v1beta1.external.metrics.k8s.io`;

/** The adapter's metrics: one item per label set. */
const METRICS: Record<string, { labels: Record<string, string>; value: string }[]> = {
  "job-success-rate": [
    { labels: { env: "production" }, value: "950m" },
    { labels: { env: "staging" }, value: "800m" },
  ],
  "queue-length": [{ labels: {}, value: "12k" }],
};

function matches(selector: string | null, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [key = "", value] = term.split("=");
    return labels[key] === value;
  });
}

/** The adapter: what an external metrics API server answers. */
function adapter(request: Recorded) {
  const url = new URL(request.url, "https://adapter");
  // Through the API server the aggregator says who asks; directly, the caller shows a token.
  const viaApiServer = request.headers["x-remote-user"] !== undefined;
  if (!viaApiServer && request.headers.authorization !== `Bearer ${TOKEN}`) {
    return json(
      { kind: "Status", status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 },
      401,
    );
  }
  if (url.pathname === `/apis/${GROUP_VERSION}`) {
    return json({
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: GROUP_VERSION,
      resources: [
        { name: "externalmetrics", namespaced: true, kind: "ExternalMetricValueList", verbs: ["get"] },
      ],
    });
  }
  const match = new RegExp(`^/apis/${GROUP_VERSION}/namespaces/([^/]+)/([^/]+)$`).exec(url.pathname);
  const series = match && match[1] === "webapp-frontend" ? METRICS[match[2] ?? ""] : undefined;
  if (series === undefined) {
    return json(
      {
        kind: "Status",
        status: "Failure",
        message: `the server could not find the metric ${match?.[2]} for namespace ${match?.[1]}`,
        reason: "NotFound",
        code: 404,
      },
      404,
    );
  }
  return json({
    kind: "ExternalMetricValueList",
    apiVersion: GROUP_VERSION,
    metadata: {},
    items: series
      .filter((s) => matches(url.searchParams.get("labelSelector"), s.labels))
      .map((s) => ({
        metricName: match?.[2],
        metricLabels: s.labels,
        timestamp: new Date().toISOString(),
        value: s.value,
      })),
  });
}

describe("externalmetrics metric provider", () => {
  let server: Receiver;
  before(async () => {
    server = await startReceiver({ tls: true });
    server.respond(adapter);
    await admin.create(SERVICES, namespace, {
      metadata: { name: "metrics-adapter" },
      spec: {
        type: "ExternalName",
        externalName: "127.0.0.1",
        ports: [{ port: Number(new URL(server.url).port) }],
      },
    });
    await admin.create(API_SERVICES, "", {
      metadata: { name: API_SERVICE },
      spec: {
        group: "external.metrics.k8s.io",
        version: "v1beta1",
        service: { namespace, name: "metrics-adapter", port: Number(new URL(server.url).port) },
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    });
    // The aggregator serves the group once its availability check reached the adapter.
    await waitFor(
      "the external metrics APIService to be available",
      async () => {
        const service = await admin.get<{
          status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
        }>(API_SERVICES, "", API_SERVICE);
        const available = service.status?.conditions?.find((c) => c.type === "Available");
        if (available?.status === "True") return true;
        throw new Error(`${available?.reason}: ${available?.message}`);
      },
      { timeoutMs: 60_000 },
    );
    await admin.create({ group: "", version: "v1", plural: "secrets", kind: "Secret" }, namespace, {
      metadata: { name: "adapter-token" },
      stringData: { token: TOKEN },
    });
  });
  after(async () => {
    await admin.delete(API_SERVICES, "", API_SERVICE);
    await server.close();
  });

  const template = (name: string, query: string, provider: Record<string, unknown> = {}) =>
    templates.set(`${namespace}/${name}`, { provider: { type: "externalmetrics", ...provider }, query });
  const metric = (name: string) => ({ name, templateRef: { name }, thresholdRange: { min: 0.9 } });

  test("through the API server: the operator reads the metric with its label selector, as its own service account", async () => {
    template("success-rate", "webapp-frontend/job-success-rate?labelSelector=env%3Dproduction");
    const [result] = await runMetrics(metricsTarget(namespace, [metric("success-rate")]));
    assert.deepEqual([result?.verdict, result?.value], ["pass", 0.95]);
    const request = server.requests.findLast((r) => r.url.includes("/job-success-rate"));
    assert.equal(new URL(request?.url ?? "", server.url).searchParams.get("labelSelector"), "env=production");
    assert.match(String(request?.headers["x-remote-user"]), /^system:serviceaccount:/);
  });

  test("directly at provider.address, with the Secret's bearer token", async () => {
    const provider = { address: server.url, insecureSkipVerify: true, secretRef: { name: "adapter-token" } };
    template("queue", "webapp-frontend/queue-length", provider);
    const [result] = await runMetrics(
      metricsTarget(namespace, [{ ...metric("queue"), thresholdRange: { max: 20_000 } }]),
    );
    assert.deepEqual([result?.verdict, result?.value], ["pass", 12_000]);
    const request = server.requests.findLast((r) => r.url.includes("/queue-length"));
    assert.equal(request?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(request?.headers["x-remote-user"], undefined);
  });

  test("several series, an unknown metric and a malformed query are failed checks that say why", async () => {
    template("ambiguous", "webapp-frontend/job-success-rate");
    template("unknown", "webapp-frontend/nope");
    template("malformed", "a/b/c");
    const results = await runMetrics(
      metricsTarget(namespace, ["ambiguous", "unknown", "malformed"].map(metric)),
    );
    assert.deepEqual(
      results.map((r) => r.message),
      [
        "ambiguous: the query returned 2 series, not one: narrow the labelSelector to one series; query webapp-frontend/job-success-rate",
        "unknown: the cluster has no external metric nope in namespace webapp-frontend (is an external metrics adapter (KEDA, prometheus-adapter, ...) registered as an APIService?)",
        'malformed: the externalmetrics query "a/b/c" is not [<namespace>/]<metric>[?labelSelector=<url-encoded selector>]',
      ],
    );
  });

  test("isOnline: the cluster serves the API; a direct address needs the right token", async () => {
    await createMetricProvider(
      "externalmetrics",
      providerSettings(undefined, undefined, { kube: operatorClient() }),
    ).isOnline();
    const direct = (token: string) =>
      createMetricProvider(
        "externalmetrics",
        providerSettings(server.url, { token }, { insecureSkipVerify: true }),
      );
    await direct(TOKEN).isOnline();
    await assert.rejects(direct("wrong").isOnline(), (error: unknown) => {
      assert.ok(error instanceof MetricQueryError);
      assert.equal(
        error.message,
        `the external metrics API at ${server.url} answered HTTP 401 (check the credentials in the template's secretRef): Unauthorized`,
      );
      return true;
    });
  });
});
