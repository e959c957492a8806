/**
 * The Datadog, Graphite, New Relic and Dynatrace providers against local HTTP servers that speak
 * their APIs, through
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
    denyLocal: false,
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
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "newrelic" },
        stringData: { newrelic_account_id: "4242", newrelic_query_key: "NRIQ-secret" },
      },
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "dynatrace" }, stringData: { dynatrace_token: "dt0c01.token" } },
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

    test("whether Datadog answers is asked once per rollout, before its first query; refused keys are a failed check", async () => {
      templates.set(`${namespace}/dd-once`, {
        provider: { type: "datadog", address: `${server.url}/dd`, secretRef: { name: "datadog" } },
        query: "avg:x{*}",
      });
      const metric = { name: "dd-once", templateRef: { name: "dd-once" }, thresholdRange: { max: 5 } };
      const validations = () => server.requests.filter((r) => r.url.startsWith("/dd/api/v1/validate")).length;
      const before = validations();
      const rollout = { ...target([metric]), revision: "once-1" };
      for (let step = 0; step < 3; step++) assert.equal((await runMetrics(rollout))[0]?.verdict, "pass");
      assert.equal(validations(), before + 1, "asked at the rollout's first step only");
      await runMetrics({ ...rollout, revision: "once-2" });
      assert.equal(validations(), before + 2, "and again for the next rollout");

      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: "datadog-revoked" },
          stringData: { datadog_api_key: "revoked", datadog_application_key: "app-456" },
        },
      });
      templates.set(`${namespace}/dd-refused`, {
        provider: { type: "datadog", address: `${server.url}/dd`, secretRef: { name: "datadog-revoked" } },
        query: "avg:x{*}",
      });
      const queries = () => server.requests.filter((r) => r.url.startsWith("/dd/api/v1/query")).length;
      const queried = queries();
      const [refused] = await runMetrics(
        target([{ name: "dd-refused", templateRef: { name: "dd-refused" }, thresholdRange: { max: 5 } }]),
      );
      assert.equal(
        refused?.message,
        `dd-refused: Datadog at ${server.url}/dd answered HTTP 403 (check the credentials in the template's secretRef): Forbidden`,
      );
      assert.equal(queries(), queried, "no query to a provider that did not answer");
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

  describe("newrelic", () => {
    before(() => {
      server.respond((request) => {
        const url = new URL(request.url, server.url);
        if (!url.pathname.startsWith("/nr/")) return { status: 404 };
        if (url.pathname !== "/nr/v1/accounts/4242/query") return json({ error: "unknown account" }, 404);
        if (request.headers["x-query-key"] !== "NRIQ-secret")
          return json({ error: "Invalid query key" }, 403);
        const nrql = url.searchParams.get("nrql") ?? "";
        if (nrql.startsWith("SELEKT"))
          return json({ error: "NRQL Syntax Error: Error at line 1 position 1" }, 400);
        if (nrql.includes("FACET")) return json({ facets: [{ name: "a", results: [{ count: 1 }] }] });
        if (nrql.includes("Nothing")) return json({ results: [{}] });
        if (nrql.includes("percentile")) return json({ results: [{ percentile: { "99": 412.5 } }] });
        return json({ results: [{ percentage: 99.25 }], performanceStats: { inspectedCount: 120 } });
      });
    });

    const nrTemplate = (name: string, query: string) =>
      templates.set(`${namespace}/${name}`, {
        provider: { type: "newrelic", address: `${server.url}/nr`, secretRef: { name: "newrelic" } },
        query,
      });

    test("runs NRQL over the interval with the query key; the result's one number counts, whatever its name", async () => {
      nrTemplate(
        "nr-success",
        "SELECT percentage(count(*), WHERE httpResponseCode < 500) FROM Transaction WHERE appName = '{{ target }}'",
      );
      nrTemplate("nr-p99", "SELECT percentile(duration, 99) FROM Transaction SINCE 5 minutes ago");
      const results = await runMetrics(
        target([
          {
            name: "nr-success",
            interval: "2m",
            templateRef: { name: "nr-success" },
            thresholdRange: { min: 99 },
          },
          { name: "nr-p99", templateRef: { name: "nr-p99" }, thresholdRange: { max: 500 } },
        ]),
      );
      assert.deepEqual(
        results.map((r) => [r.verdict, r.value, r.message]),
        [
          ["pass", 99.25, "nr-success 99.25 >= 99"],
          ["pass", 412.5, "nr-p99 412.50 <= 500"],
        ],
      );
      const queries = server.requests
        .filter((r) => r.url.startsWith("/nr/"))
        .map((r) => new URL(r.url, server.url).searchParams.get("nrql"));
      assert.deepEqual(queries.slice(-2).sort(), [
        "SELECT percentage(count(*), WHERE httpResponseCode < 500) FROM Transaction WHERE appName = 'podinfo' SINCE 120 seconds ago",
        "SELECT percentile(duration, 99) FROM Transaction SINCE 5 minutes ago",
      ]);
    });

    test("a syntax error, a faceted query, no data and a wrong key are failed checks with reasons", async () => {
      nrTemplate("nr-bad", "SELEKT count(*) FROM Transaction");
      nrTemplate("nr-facet", "SELECT count(*) FROM Transaction FACET appName");
      nrTemplate("nr-none", "SELECT average(duration) FROM Nothing");
      const metric = (name: string) => ({
        name,
        interval: "1m",
        templateRef: { name },
        thresholdRange: { max: 1 },
      });
      const results = await runMetrics(target([metric("nr-bad"), metric("nr-facet"), metric("nr-none")]));
      assert.deepEqual(
        results.map((r) => [r.verdict, r.message]),
        [
          [
            "error",
            `nr-bad: New Relic at ${server.url}/nr answered HTTP 400: NRQL Syntax Error: Error at line 1 position 1`,
          ],
          [
            "error",
            "nr-facet: the query returned a series per facet or time: select one aggregate function, without FACET or TIMESERIES",
          ],
          [
            "error",
            "nr-none: no values found (is the canary receiving traffic?) for query SELECT average(duration) FROM Nothing SINCE 60 seconds ago",
          ],
        ],
      );
      const wrong = createMetricProvider(
        "newrelic",
        settings(`${server.url}/nr`, { newrelic_account_id: "4242", newrelic_query_key: "nope" }),
      );
      await assert.rejects(
        wrong.isOnline(),
        new RegExp(
          `^MetricQueryError: New Relic at ${server.url}/nr answered HTTP 403 \\(check the credentials in the template's secretRef\\): Invalid query key$`,
        ),
      );
      await createMetricProvider(
        "newrelic",
        settings(`${server.url}/nr`, { newrelic_account_id: "4242", newrelic_query_key: "NRIQ-secret" }),
      ).isOnline();
      assert.throws(
        () => createMetricProvider("newrelic", settings(`${server.url}/nr`, { newrelic_account_id: "4242" })),
        /Secret test\/keys lacks newrelic_query_key/,
      );
    });
  });

  describe("dynatrace", () => {
    before(() => {
      server.respond((request) => {
        const url = new URL(request.url, server.url);
        if (!url.pathname.startsWith("/dt/")) return { status: 404 };
        if (request.headers.authorization !== "Api-Token dt0c01.token") {
          return json({ error: { code: 401, message: "Token Authentication failed" } }, 401);
        }
        if (url.pathname === "/dt/api/v2/metrics")
          return json({ totalCount: 1, metrics: [{ metricId: "x" }] });
        const selector = url.searchParams.get("metricSelector") ?? "";
        if (selector.includes("((")) {
          return json(
            {
              error: {
                code: 400,
                message: "Constraints violated.",
                constraintViolations: [{ message: "The metric selector is invalid" }],
              },
            },
            400,
          );
        }
        const series = (values: (number | null)[]) => ({ dimensions: [], timestamps: [], values });
        const data = selector.includes("splitBy()") ? [series([null, 1.75])] : [series([1.5]), series([2.5])];
        return json({ totalCount: 1, resolution: "Inf", result: [{ metricId: selector, data }] });
      });
    });

    const dtTemplate = (name: string, query: string) =>
      templates.set(`${namespace}/${name}`, {
        provider: { type: "dynatrace", address: `${server.url}/dt`, secretRef: { name: "dynatrace" } },
        query,
      });

    test("reads the selector over the interval at resolution Inf with the API token", async () => {
      dtTemplate(
        "dt-errors",
        'builtin:service.errors.total.rate:filter(eq("dt.entity.service","{{ target }}")):splitBy()',
      );
      const [result] = await runMetrics(
        target([
          {
            name: "dt-errors",
            interval: "90s",
            templateRef: { name: "dt-errors" },
            thresholdRange: { max: 1 },
          },
        ]),
      );
      assert.deepEqual(
        [result?.verdict, result?.value, result?.message],
        ["fail", 1.75, "dt-errors 1.75 > 1"],
      );
      const request = server.requests.findLast((r) => r.url.startsWith("/dt/api/v2/metrics/query"));
      const params = new URL(request?.url ?? "", server.url).searchParams;
      assert.equal(
        params.get("metricSelector"),
        'builtin:service.errors.total.rate:filter(eq("dt.entity.service","podinfo")):splitBy()',
      );
      assert.equal(params.get("from"), "now-90s");
      assert.equal(params.get("resolution"), "Inf");
      await createMetricProvider(
        "dynatrace",
        settings(`${server.url}/dt`, { dynatrace_token: "dt0c01.token" }),
      ).isOnline();
    });

    test("an invalid selector, a series per dimension and a missing address are failed checks with reasons", async () => {
      dtTemplate("dt-bad", "builtin:service.response.time((");
      dtTemplate("dt-split", "builtin:service.response.time");
      templates.set(`${namespace}/dt-noaddress`, {
        provider: { type: "dynatrace", secretRef: { name: "dynatrace" } },
        query: "builtin:service.response.time",
      });
      const metric = (name: string) => ({ name, templateRef: { name }, thresholdRange: { max: 1 } });
      const results = await runMetrics(
        target([metric("dt-bad"), metric("dt-split"), metric("dt-noaddress")]),
      );
      assert.deepEqual(
        results.map((r) => [r.verdict, r.message]),
        [
          [
            "error",
            `dt-bad: Dynatrace at ${server.url}/dt answered HTTP 400: Constraints violated.; The metric selector is invalid`,
          ],
          [
            "error",
            "dt-split: the query returned 2 series, not one: merge the dimensions (e.g. append :splitBy()); query builtin:service.response.time",
          ],
          [
            "error",
            "dt-noaddress: the dynatrace provider needs an address: the environment's URL (https://<id>.live.dynatrace.com)",
          ],
        ],
      );
    });
  });
});
