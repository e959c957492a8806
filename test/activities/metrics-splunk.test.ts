/**
 * The splunk provider against a local server that speaks Splunk Observability's SignalFlow HTTP
 * API (POST /v2/signalflow/execute answered as Server-Sent Events: control messages, metadata,
 * data batches, errors) and its REST API (GET /v2/metric for isOnline), checking the token.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { json, metricsTarget, namespaceWithSecrets, providerSettings } from "./metric-provider-support.ts";
import { type Receiver, type Recorded, startReceiver } from "./webhooks-servers.ts";

const namespace = `metrics-splunk-${process.pid}`;
const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig() });
const TOKEN = "sf-access-token";

/** A SignalFlow computation's stream as the API sends it. */
function stream(...messages: [event: string, data: unknown][]) {
  const control = (event: string, extra = {}) =>
    ["control-message", { event, timestampMs: 1_700_000_000_000, ...extra }] as [string, unknown];
  const all = [
    control("STREAM_START"),
    control("JOB_START", { handle: "Fq3xJ2rA0AA" }),
    ...messages,
    control("END_OF_CHANNEL"),
  ];
  return {
    status: 200,
    headers: { "content-type": "text/event-stream" },
    // Pretty-printed, so a message spans several data: lines, as SSE allows.
    body: all
      .map(([event, data]) => {
        const lines = JSON.stringify(data, null, 1).split("\n");
        return `event: ${event}\n${lines.map((line) => `data: ${line}`).join("\n")}\n\n`;
      })
      .join(""),
  };
}
const metadata = (tsId: string) =>
  ["metadata", { tsId, properties: { sf_service: "podinfo" } }] as [string, unknown];
const data = (at: number, points: [string, number | null][]) =>
  ["data", { logicalTimestampMs: at, data: points.map(([tsId, value]) => ({ tsId, value })) }] as [
    string,
    unknown,
  ];

function execute(program: string) {
  if (program.startsWith("bogus")) {
    return stream([
      "error",
      { errors: [{ code: "ANALYTICS_PROGRAM_NAME_ERROR", context: { name: "bogus", line: 1, column: 1 } }] },
    ]);
  }
  if (program.includes("nothing")) return stream(metadata("AAA"), data(1, [["AAA", null]]));
  if (program.includes("by_host")) {
    return stream(
      metadata("AAA"),
      metadata("BBB"),
      data(1, [
        ["AAA", 1],
        ["BBB", 2],
      ]),
    );
  }
  if (program.includes("aborted")) {
    return stream([
      "control-message",
      { event: "CHANNEL_ABORT", abortInfo: { sf_job_abortReason: "too many MTS" } },
    ]);
  }
  return stream(
    metadata("AAA"),
    data(1_700_000_000_000, [["AAA", 97]]),
    data(1_700_000_060_000, [["AAA", 99.5]]),
    data(1_700_000_120_000, [["AAA", null]]),
  );
}

describe("splunk metric provider", () => {
  let server: Receiver;
  let cluster: Awaited<ReturnType<typeof namespaceWithSecrets>>;
  before(async () => {
    cluster = await namespaceWithSecrets(namespace, {
      splunk: { sf_token_key: TOKEN },
      wrong: { sf_token_key: "revoked" },
    });
    server = await startReceiver();
    server.respond((request: Recorded) => {
      const url = new URL(request.url, server.url);
      if (request.headers["x-sf-token"] !== TOKEN) {
        return json({ code: 401, message: "Invalid token" }, 401);
      }
      if (request.method === "POST" && url.pathname === "/v2/signalflow/execute") {
        if (request.headers["content-type"] !== "text/plain")
          return json({ message: "program expected" }, 415);
        return execute(request.body);
      }
      if (request.method === "GET" && url.pathname === "/v2/metric") return json({ count: 1, results: [{}] });
      return { status: 404 };
    });
  });
  after(async () => {
    await server.close();
    await cluster.remove();
  });

  const template = (name: string, query: string, secret = "splunk") =>
    templates.set(`${namespace}/${name}`, {
      provider: { type: "splunk", address: server.url, secretRef: { name: secret } },
      query,
    });
  const metric = (name: string) => ({
    name,
    interval: "1m",
    templateRef: { name },
    thresholdRange: { min: 99 },
  });

  test("executes the program over ten intervals up to now; the newest value of the one stream counts", async () => {
    template(
      "success-rate",
      "total = data('traces.count', filter=filter('sf_service', '{{ target }}')).sum().publish(enable=False)\n((success/total) * 100).publish()",
    );
    const [result] = await runMetrics(metricsTarget(namespace, [metric("success-rate")]));
    assert.deepEqual([result?.verdict, result?.value], ["pass", 99.5]);
    const request = server.requests.findLast((r) => r.url.startsWith("/v2/signalflow/execute"));
    assert.equal(
      request?.body,
      "total = data('traces.count', filter=filter('sf_service', 'podinfo')).sum().publish(enable=False)\n((success/total) * 100).publish()",
    );
    const params = new URL(request?.url ?? "", server.url).searchParams;
    assert.equal(Number(params.get("stop")) - Number(params.get("start")), 10 * 60_000);
    assert.ok(Math.abs(Number(params.get("stop")) - Date.now()) < 60_000);
    assert.equal(params.get("immediate"), "true");
  });

  test("the realm's API address is turned into its stream address for SignalFlow", () => {
    const provider = createMetricProvider(
      "splunk",
      providerSettings("https://api.us1.signalfx.com", { sf_token_key: TOKEN }),
    );
    assert.equal(provider.description, "Splunk Observability at https://stream.us1.signalfx.com/");
  });

  test("isOnline checks the token against the REST API", async () => {
    await createMetricProvider("splunk", providerSettings(server.url, { sf_token_key: TOKEN })).isOnline();
    await assert.rejects(
      createMetricProvider("splunk", providerSettings(server.url, { sf_token_key: "revoked" })).isOnline(),
      (error: unknown) => {
        assert.ok(error instanceof MetricQueryError);
        assert.equal(
          error.message,
          `Splunk Observability at ${server.url}/ answered HTTP 401 (check the credentials in the template's secretRef): Invalid token`,
        );
        return true;
      },
    );
  });

  test("program errors, aborts, no data, several streams and a refused token are failed checks that say why", async () => {
    template("bogus", "bogus('x').publish()");
    template("nothing", "data('nothing').publish()");
    template("by-host", "data('cpu').sum(by=['by_host']).publish()");
    template("aborted", "data('aborted').publish()");
    template("revoked", "data('x').publish()", "wrong");
    const results = await runMetrics(
      metricsTarget(namespace, ["bogus", "nothing", "by-host", "aborted", "revoked"].map(metric)),
    );
    const at = `Splunk Observability at ${server.url}/`;
    assert.deepEqual(
      results.map((r) => [r.verdict, r.message]),
      [
        [
          "error",
          `bogus: ${at} rejected the program: ANALYTICS_PROGRAM_NAME_ERROR {"name":"bogus","line":1,"column":1}`,
        ],
        [
          "error",
          "nothing: no values found (is the canary receiving traffic?) for query data('nothing').publish()",
        ],
        [
          "error",
          "by-host: the query returned 2 series, not one: publish one stream (e.g. .sum().publish()); query data('cpu').sum(by=['by_host']).publish()",
        ],
        ["error", `aborted: ${at} aborted the computation: {"sf_job_abortReason":"too many MTS"}`],
        [
          "error",
          `revoked: ${at} answered HTTP 401 (check the credentials in the template's secretRef): Invalid token`,
        ],
      ],
    );
  });

  test("a template without an address or token says what to add", async () => {
    assert.throws(
      () => createMetricProvider("splunk", providerSettings(undefined, { sf_token_key: TOKEN })),
      /needs an address: the realm's API URL \(https:\/\/api\.<realm>\.signalfx\.com\)/,
    );
    assert.throws(
      () => createMetricProvider("splunk", providerSettings(server.url, { other: "x" })),
      /Secret test\/keys lacks sf_token_key/,
    );
  });
});
