/**
 * The Datadog and Graphite providers against local HTTP servers that speak their APIs, through
 * runMetrics (templates, Secrets from the real API server) and the provider interface (isOnline);
 * and Prometheus's isOnline against the test world's Prometheus.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError, type ProviderSettings } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { freePort } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec } from "../unit/helpers/specs.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { type Receiver, type Recorded, startReceiver } from "./webhooks-servers.ts";

const world = worldEnv();
const namespace = `metrics-providers-${process.pid}`;
const kc = new KubeConfig();
kc.loadFromFile(world.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);

const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig() });

function target(metrics: Record<string, unknown>[]): Target {
  return {
    ref: { namespace, name: "podinfo" },
    spec: spec({ stepWeight: 10, metrics }),
    revision: "5f6d8c",
  };
}

function settings(address: string, credentials?: Record<string, string>): ProviderSettings {
  return {
    address,
    headers: {},
    insecureSkipVerify: false,
    region: undefined,
    credentials,
    credentialsSource: "Secret test/keys",
    timeoutMs: 2_000,
  };
}

const json = (body: unknown, status = 200) => ({
  status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

describe("metric providers beyond Prometheus", () => {
  let server: Receiver;
  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "datadog" },
        stringData: { datadog_api_key: "api-123", datadog_application_key: "app-456" },
      },
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "graphite" }, stringData: { username: "reader", password: "pw" } },
    });
    server = await startReceiver();
  });
  after(async () => {
    await server.close();
    await core.deleteNamespace({ name: namespace });
  });

  test("prometheus: isOnline answers for the test world's Prometheus and explains an unreachable one", async () => {
    await createMetricProvider("prometheus", settings(world.prometheusUrl)).isOnline();
    const port = await freePort();
    await assert.rejects(
      createMetricProvider("prometheus", settings(`http://127.0.0.1:${port}`)).isOnline(),
      (error: unknown) => {
        assert.ok(error instanceof MetricQueryError);
        assert.equal(error.kind, "unreachable");
        assert.equal(
          error.message,
          `cannot query Prometheus at http://127.0.0.1:${port}: cannot connect to 127.0.0.1:${port}: connection refused`,
        );
        return true;
      },
    );
  });

  describe("datadog", () => {
    const keysOk = (request: Recorded) =>
      request.headers["dd-api-key"] === "api-123" && request.headers["dd-application-key"] === "app-456";

    before(() => {
      server.respond((request) => {
        const url = new URL(request.url, server.url);
        if (!url.pathname.startsWith("/dd/")) return { status: 404 };
        if (!keysOk(request)) return json({ errors: ["Forbidden"] }, 403);
        if (url.pathname === "/dd/api/v1/validate") return json({ valid: true });
        const query = url.searchParams.get("query") ?? "";
        if (query.startsWith("bad(")) return json({ errors: ["Error parsing query: unexpected token"] }, 400);
        if (query.includes("nothing")) return json({ status: "ok", series: [] });
        return json({
          status: "ok",
          series: [
            {
              pointlist: [
                [1_700_000_000_000, 0.5],
                [1_700_000_010_000, 1.25],
                [1_700_000_020_000, null],
              ],
            },
          ],
        });
      });
    });

    test("queries the interval's window with the keys from the Secret; the newest point counts", async () => {
      templates.set(`${namespace}/dd-errors`, {
        provider: { type: "datadog", address: `${server.url}/dd`, secretRef: { name: "datadog" } },
        query: "sum:trace.http.request.errors{service:{{ target }},env:{{ variables.env }}}.as_rate()",
      });
      const [result] = await runMetrics(
        target([
          {
            name: "dd-errors",
            interval: "2m",
            templateRef: { name: "dd-errors" },
            templateVariables: { env: "prod" },
            thresholdRange: { max: 1 },
          },
        ]),
      );
      assert.deepEqual(
        [result?.verdict, result?.value, result?.message],
        ["fail", 1.25, "dd-errors 1.25 > 1"],
      );
      const request = server.requests.findLast((r) => r.url.startsWith("/dd/api/v1/query"));
      const params = new URL(request?.url ?? "", server.url).searchParams;
      assert.equal(params.get("query"), "sum:trace.http.request.errors{service:podinfo,env:prod}.as_rate()");
      assert.equal(Number(params.get("to")) - Number(params.get("from")), 120);
      assert.ok(Math.abs(Number(params.get("to")) - Date.now() / 1000) < 60);
    });

    test("isOnline validates the API key", async () => {
      const provider = createMetricProvider(
        "datadog",
        settings(`${server.url}/dd`, { datadog_api_key: "api-123", datadog_application_key: "app-456" }),
      );
      await provider.isOnline();
      const wrong = createMetricProvider(
        "datadog",
        settings(`${server.url}/dd`, { datadog_api_key: "nope", datadog_application_key: "app-456" }),
      );
      await assert.rejects(wrong.isOnline(), (error: unknown) => {
        assert.ok(error instanceof MetricQueryError);
        assert.equal(
          error.message,
          `Datadog at ${server.url}/dd answered HTTP 403 (check the credentials in the template's secretRef): Forbidden`,
        );
        return true;
      });
    });

    test("a rejected query, no series and missing keys are failed checks with reasons", async () => {
      templates.set(`${namespace}/dd-bad`, {
        provider: { type: "datadog", address: `${server.url}/dd`, secretRef: { name: "datadog" } },
        query: "bad(",
      });
      templates.set(`${namespace}/dd-none`, {
        provider: { type: "datadog", address: `${server.url}/dd`, secretRef: { name: "datadog" } },
        query: "avg:nothing{*}",
      });
      templates.set(`${namespace}/dd-nokeys`, {
        provider: { type: "datadog", address: `${server.url}/dd`, secretRef: { name: "graphite" } },
        query: "avg:x{*}",
      });
      const metric = (name: string) => ({ name, templateRef: { name }, thresholdRange: { max: 1 } });
      const results = await runMetrics(target([metric("dd-bad"), metric("dd-none"), metric("dd-nokeys")]));
      assert.deepEqual(
        results.map((r) => [r.verdict, r.message]),
        [
          [
            "error",
            `dd-bad: Datadog at ${server.url}/dd answered HTTP 400: Error parsing query: unexpected token`,
          ],
          ["error", "dd-none: no values found (is the canary receiving traffic?) for query avg:nothing{*}"],
          ["error", `dd-nokeys: Secret ${namespace}/graphite lacks datadog_api_key`],
        ],
      );
    });
  });

  describe("graphite", () => {
    before(() => {
      server.respond((request) => {
        const url = new URL(request.url, server.url);
        if (!url.pathname.startsWith("/graphite/")) return { status: 404 };
        if (request.headers.authorization !== `Basic ${Buffer.from("reader:pw").toString("base64")}`) {
          return { status: 401, body: "authentication required" };
        }
        if (url.pathname === "/graphite/version") return { status: 200, body: "1.1.10" };
        const target = url.searchParams.get("target") ?? "";
        if (target.startsWith("sumSeries(")) {
          return { status: 400, body: "Invalid target: unbalanced parenthesis" };
        }
        return json([
          {
            target,
            datapoints: [
              [null, 1_700_000_000],
              [97.5, 1_700_000_010],
              [98.25, 1_700_000_020],
              [null, 1_700_000_030],
            ],
          },
        ]);
      });
    });

    test("renders the interval's window as JSON with basic auth; the newest non-null point counts", async () => {
      templates.set(`${namespace}/success`, {
        provider: { type: "graphite", address: `${server.url}/graphite`, secretRef: { name: "graphite" } },
        query: "asPercent(stats.{{ namespace }}.{{ target }}.ok, stats.{{ namespace }}.{{ target }}.all)",
      });
      const [result] = await runMetrics(
        target([
          { name: "success", interval: "90s", templateRef: { name: "success" }, thresholdRange: { min: 99 } },
        ]),
      );
      assert.deepEqual(
        [result?.verdict, result?.value, result?.message],
        ["fail", 98.25, "success 98.25 < 99"],
      );
      const request = server.requests.findLast((r) => r.url.startsWith("/graphite/render"));
      const params = new URL(request?.url ?? "", server.url).searchParams;
      assert.equal(
        params.get("target"),
        `asPercent(stats.${namespace}.podinfo.ok, stats.${namespace}.podinfo.all)`,
      );
      assert.equal(params.get("from"), "-90s");
      assert.equal(params.get("format"), "json");
    });

    test("isOnline answers for a reachable Graphite with valid credentials", async () => {
      await createMetricProvider(
        "graphite",
        settings(`${server.url}/graphite`, { username: "reader", password: "pw" }),
      ).isOnline();
      await assert.rejects(
        createMetricProvider("graphite", settings(`${server.url}/graphite`)).isOnline(),
        /answered HTTP 401 \(check the credentials in the template's secretRef\): authentication required/,
      );
    });

    test("an invalid target is a failed check naming Graphite's reason", async () => {
      templates.set(`${namespace}/broken`, {
        provider: { type: "graphite", address: `${server.url}/graphite`, secretRef: { name: "graphite" } },
        query: "sumSeries(stats.*",
      });
      const [result] = await runMetrics(
        target([{ name: "broken", templateRef: { name: "broken" }, thresholdRange: { min: 1 } }]),
      );
      assert.equal(result?.verdict, "error");
      assert.equal(
        result?.message,
        `broken: Graphite at ${server.url}/graphite answered HTTP 400: Invalid target: unbalanced parenthesis`,
      );
    });
  });
});
