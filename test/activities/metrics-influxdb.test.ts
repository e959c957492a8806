/**
 * The InfluxDB provider against a local HTTP server that speaks InfluxDB's Flux query API
 * (`POST /api/v2/query`, token auth, annotated CSV answers, JSON errors): no registry here ships
 * an InfluxDB with Flux (Debian's is 1.6, before Flux). Through runMetrics (templates in memory,
 * Secrets from the real API server) and the provider interface (isOnline).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError, type ProviderSettings } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec } from "../unit/helpers/specs.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { type Answer, type Receiver, type Recorded, startReceiver } from "./webhooks-servers.ts";

const world = worldEnv();
const namespace = `metrics-influxdb-${process.pid}`;
const kc = new KubeConfig();
kc.loadFromFile(world.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);

const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig() });

const TOKEN = "influx-token-123";
const ORG = "canary-org";

function target(metrics: Record<string, unknown>[]): Target {
  return { ref: { namespace, name: "podinfo" }, spec: spec({ stepWeight: 10, metrics }), revision: "5f6d8c" };
}

function settings(address: string, credentials?: Record<string, string>): ProviderSettings {
  return {
    address,
    headers: {},
    insecureSkipVerify: false,
    region: undefined,
    credentials,
    credentialsSource: "Secret test/influxdb",
    timeoutMs: 2_000,
    denyLocal: false,
  };
}

/** Annotated CSV as InfluxDB writes it: CRLF line ends, an empty line after each block. */
const csv = (...blocks: string[][]) => blocks.map((lines) => `${lines.join("\r\n")}\r\n\r\n`).join("");
const T = "2026-01-01T00:00:00Z";
const ANNOTATIONS = [
  "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string",
  "#group,false,false,true,true,false,false,true,true",
  "#default,_result,,,,,,,",
  ",result,table,_start,_stop,_time,_value,_field,_measurement",
];
const ANSWERS: Record<string, Answer> = {
  error_rate: {
    body: csv([
      ...ANNOTATIONS,
      `,,0,${T},${T},2026-01-01T00:00:10Z,0.5,rate,istio_requests`,
      `,,0,${T},${T},2026-01-01T00:00:20Z,2.5,rate,istio_requests`,
      `,,0,${T},${T},2026-01-01T00:00:30Z,,rate,istio_requests`,
    ]),
  },
  by_pod: {
    body: csv([...ANNOTATIONS, `,,0,${T},${T},${T},1,rate,pod-a`, `,,1,${T},${T},${T},2,rate,pod-b`]),
  },
  count_long: {
    body: csv([
      "#datatype,string,long,string,long",
      "#group,false,false,true,false",
      "#default,count,,,",
      ",result,table,_field,_value",
      ",,0,requests,42",
    ]),
  },
  text: {
    body: csv([
      "#datatype,string,long,string",
      "#group,false,false,false",
      "#default,_result,,",
      ",result,table,_value",
      ',,0,"a, quoted ""text"""',
    ]),
  },
  nothing: { body: "\r\n" },
  runtime_error: {
    body: csv([
      "#datatype,string,string",
      "#group,true,true",
      "#default,,",
      ",error,reference",
      ',"runtime error @3:6-3:40: filter: type conflict: string != int",',
    ]),
  },
  "|> bad": {
    status: 400,
    body: JSON.stringify({
      code: "invalid",
      message: "compilation failed: error @2:1-2:7: invalid expression",
    }),
  },
};

/** InfluxDB's query endpoint: token auth and an existing org unless under /open (InfluxDB 1.x style). */
function influx(request: Recorded): Answer {
  const url = new URL(request.url, "http://influx");
  const open = url.pathname === "/open/api/v2/query";
  if (request.method !== "POST" || !(open || url.pathname === "/api/v2/query")) return { status: 404 };
  const json = { "content-type": "application/json" };
  if (!open && request.headers.authorization !== `Token ${TOKEN}`) {
    return {
      status: 401,
      headers: json,
      body: JSON.stringify({ code: "unauthorized", message: "unauthorized access" }),
    };
  }
  if (!open && url.searchParams.get("org") !== ORG) {
    const message = `organization name "${url.searchParams.get("org")}" not found`;
    return { status: 404, headers: json, body: JSON.stringify({ code: "not found", message }) };
  }
  const body = JSON.parse(request.body) as {
    query: string;
    type: string;
    dialect: { annotations: string[] };
  };
  if (body.type !== "flux" || !body.dialect.annotations.includes("datatype")) return { status: 400 };
  const answer = body.query.startsWith("buckets()")
    ? ANSWERS.error_rate
    : Object.entries(ANSWERS).find(([key]) => body.query.includes(key))?.[1];
  return { headers: { "content-type": "text/csv; charset=utf-8" }, ...(answer ?? ANSWERS.nothing) };
}

const metric = (name: string) => ({
  name,
  templateRef: { name },
  interval: "5m",
  thresholdRange: { max: 1 },
});

describe("influxdb metric provider", () => {
  let server: Receiver;
  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "influxdb" }, stringData: { token: TOKEN, org: ORG } },
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "token-only" }, stringData: { token: TOKEN } },
    });
    server = await startReceiver();
    server.respond(influx);
  });
  after(async () => {
    await server.close();
    await core.deleteNamespace({ name: namespace });
  });

  const template = (name: string, query: string, extra: Record<string, unknown> = {}) =>
    templates.set(`${namespace}/${name}`, {
      provider: { type: "influxdb", address: server.url, secretRef: { name: "influxdb" }, ...extra },
      query,
    });

  test("runs the Flux query with the Secret's token and org; the table's last non-null _value counts", async () => {
    template(
      "errors",
      [
        'from(bucket: "istio")',
        "  |> range(start: -{{ interval }})",
        '  |> filter(fn: (r) => r.destination_workload == "{{ target }}" and r._field == "error_rate")',
      ].join("\n"),
    );
    const [result] = await runMetrics(target([metric("errors")]));
    assert.deepEqual([result?.verdict, result?.value, result?.message], ["fail", 2.5, "errors 2.50 > 1"]);
    const request = server.requests.findLast((r) => r.body.includes("error_rate"));
    assert.equal(new URL(request?.url ?? "", server.url).searchParams.get("org"), ORG);
    assert.equal(request?.headers.accept, "application/csv");
    assert.match(
      (JSON.parse(request?.body ?? "{}") as { query: string }).query,
      /range\(start: -5m\)[\s\S]*destination_workload == "podinfo"/,
    );
  });

  test("an integer _value counts too; without a secretRef the query goes without token or org", async () => {
    templates.set(`${namespace}/count`, {
      provider: { type: "influxdb", address: `${server.url}/open` },
      query: 'from(bucket: "telegraf/autogen") |> range(start: -1m) |> count() |> yield(name: "count_long")',
    });
    const [result] = await runMetrics(target([metric("count")]));
    assert.deepEqual([result?.verdict, result?.value], ["fail", 42]);
    const request = server.requests.findLast((r) => r.body.includes("count_long"));
    assert.equal(request?.headers.authorization, undefined);
    assert.equal(new URL(request?.url ?? "", server.url).search, "");
  });

  test("several tables, no rows, a text value, a failed query and a missing key are failed checks with reasons", async () => {
    template(
      "by-pod",
      'from(bucket: "istio") |> range(start: -1m) |> filter(fn: (r) => r._field == "by_pod")',
    );
    template(
      "nothing",
      'from(bucket: "istio") |> range(start: -1m) |> filter(fn: (r) => r._field == "nothing")',
    );
    template("text", 'from(bucket: "istio") |> range(start: -1m) |> filter(fn: (r) => r._field == "text")');
    template("runtime", 'from(bucket: "istio") |> range(start: -1m) |> runtime_error()');
    template("syntax", 'from(bucket: "istio")\n|> bad');
    template("no-org", 'from(bucket: "istio") |> range(start: -1m)', { secretRef: { name: "token-only" } });
    template("no-address", 'from(bucket: "istio") |> range(start: -1m)', { address: undefined });
    const results = await runMetrics(
      target(["by-pod", "nothing", "text", "runtime", "syntax", "no-org", "no-address"].map(metric)),
    );
    assert.deepEqual(
      results.map((r) => [r.verdict, r.message]),
      [
        [
          "error",
          'by-pod: the query returned 2 series, not one: group() the result or aggregate it (e.g. sum(), last()) so that one table remains; query from(bucket: "istio") |> range(start: -1m) |> filter(fn: (r) => r._field == "by_pod")',
        ],
        [
          "error",
          'nothing: no values found (is the canary receiving traffic?) for query from(bucket: "istio") |> range(start: -1m) |> filter(fn: (r) => r._field == "nothing")',
        ],
        [
          "error",
          'text: _value of table _result/0 is a string, not a number; query from(bucket: "istio") |> range(start: -1m) |> filter(fn: (r) => r._field == "text")',
        ],
        [
          "error",
          `runtime: InfluxDB at ${server.url} failed the query: runtime error @3:6-3:40: filter: type conflict: string != int`,
        ],
        [
          "error",
          `syntax: InfluxDB at ${server.url} answered HTTP 400: compilation failed: error @2:1-2:7: invalid expression`,
        ],
        ["error", `no-org: Secret ${namespace}/token-only lacks org`],
        [
          "error",
          "no-address: the influxdb provider needs provider.address, the InfluxDB URL (such as http://influxdb.monitoring:8086)",
        ],
      ],
    );
  });

  test("isOnline runs a query with the token and org, and explains a refused token or unknown org", async () => {
    await createMetricProvider("influxdb", settings(server.url, { token: TOKEN, org: ORG })).isOnline();
    const online = server.requests.at(-1);
    assert.equal((JSON.parse(online?.body ?? "{}") as { query: string }).query, "buckets() |> limit(n: 1)");
    await assert.rejects(
      createMetricProvider("influxdb", settings(server.url, { token: "wrong", org: ORG })).isOnline(),
      (error: unknown) => {
        assert.ok(error instanceof MetricQueryError);
        assert.equal(
          error.message,
          `InfluxDB at ${server.url} answered HTTP 401 (check the credentials in the template's secretRef): unauthorized access`,
        );
        return true;
      },
    );
    await assert.rejects(
      createMetricProvider("influxdb", settings(server.url, { token: TOKEN, org: "elsewhere" })).isOnline(),
      {
        name: "MetricQueryError",
        message: `InfluxDB at ${server.url} answered HTTP 404: organization name "elsewhere" not found`,
      },
    );
  });
});
