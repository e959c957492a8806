/**
 * The CloudWatch provider against moto's server, which emulates CloudWatch's GetMetricData and
 * PutMetricData: datapoints put with the AWS SDK, queried through runMetrics (templates in
 * memory) and the provider interface (isOnline), with credentials from the environment as the
 * SDK's default chain reads them.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError, type ProviderSettings } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import { requireBinary } from "../../tools/catalog.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { freePort, onFreshPorts, Supervisor, waitFor } from "../harness/process.ts";
import { spec } from "../unit/helpers/specs.ts";
import { inMemoryTemplates } from "./analysis-support.ts";

const namespace = `metrics-cloudwatch-${process.pid}`;
const metricNamespace = `DurableCanary/${process.pid}`;
const region = "us-east-1";
const MINUTE = 60_000;

// The SDK's default chain finds these first; moto takes any key.
process.env.AWS_ACCESS_KEY_ID = "AKIDTESTING";
process.env.AWS_SECRET_ACCESS_KEY = "testing-secret";
// No instance metadata service here: a chain without keys must fail fast.
process.env.AWS_EC2_METADATA_DISABLED = "true";

const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig() });

function target(metrics: Record<string, unknown>[]): Target {
  return { ref: { namespace, name: "podinfo" }, spec: spec({ stepWeight: 10, metrics }), revision: "5f6d8c" };
}

function settings(address: string | undefined, overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return {
    address,
    headers: {},
    insecureSkipVerify: false,
    region,
    credentials: undefined,
    credentialsSource: "",
    timeoutMs: 5_000,
    denyLocal: false,
    ...overrides,
  };
}

/** One MetricStat query over the test's metric namespace, for the Canary the template names. */
function metricStat(id: string, metricName: string, returnData: boolean) {
  return {
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: metricNamespace,
        MetricName: metricName,
        Dimensions: [{ Name: "appName", Value: "{{ target }}.{{ namespace }}" }],
      },
      Period: 60,
      Stat: "Average",
    },
    ReturnData: returnData,
  };
}

const metric = (name: string, interval = "1m") => ({
  name,
  interval,
  templateRef: { name },
  thresholdRange: { max: 200 },
});

describe("cloudwatch metric provider (moto)", () => {
  const supervisor = new Supervisor(mkdtempSync(join(tmpdir(), "moto-")));
  let moto: string;

  before(async () => {
    moto = await onFreshPorts(async (track) => {
      const port = await freePort();
      const server = track(
        supervisor.start({
          name: "moto",
          command: requireBinary("motoServer"),
          args: ["-H", "127.0.0.1", "-p", String(port)],
        }),
      );
      const url = `http://127.0.0.1:${port}`;
      await waitFor(
        "moto server",
        async () => ((await fetch(`${url}/moto-api/data.json`)).ok ? true : undefined),
        { timeoutMs: 60_000, process: server },
      );
      return url;
    });
    const writer = new CloudWatchClient({
      region,
      endpoint: moto,
      credentials: { accessKeyId: "AKIDTESTING", secretAccessKey: "testing-secret" },
    });
    const now = Date.now();
    const point = (name: string, value: number, minutesAgo: number) => ({
      MetricName: name,
      Dimensions: [{ Name: "appName", Value: `podinfo.${namespace}` }],
      Timestamp: new Date(now - minutesAgo * MINUTE),
      Value: value,
      Unit: "Milliseconds" as const,
    });
    await writer.send(
      new PutMetricDataCommand({
        Namespace: metricNamespace,
        MetricData: [
          point("RequestDuration", 120, 5),
          point("RequestDuration", 250, 2),
          // Older than ten one-minute intervals: outside the window.
          point("StaleDuration", 90, 15),
        ],
      }),
    );
    writer.destroy();
  });
  after(async () => {
    await supervisor.stopAll();
    rmSync(supervisor.logDir, { recursive: true, force: true });
  });

  test("the newest datapoint of the query that returns data counts, over ten intervals", async () => {
    templates.set(`${namespace}/latency`, {
      provider: { type: "cloudwatch", region, address: moto },
      query: JSON.stringify([
        { Id: "latency", Expression: "m1", Label: "latency" },
        metricStat("m1", "RequestDuration", false),
      ]),
    });
    const [result] = await runMetrics(target([metric("latency")]));
    assert.deepEqual(
      [result?.verdict, result?.value, result?.message],
      ["fail", 250, "latency 250.00 > 200"],
    );
  });

  test("no datapoint in the window is no data; queries that do not pick one value say how to", async () => {
    templates.set(`${namespace}/stale`, {
      provider: { type: "cloudwatch", region, address: moto },
      query: JSON.stringify([metricStat("stale", "StaleDuration", true)]),
    });
    templates.set(`${namespace}/two`, {
      provider: { type: "cloudwatch", region, address: moto },
      query: JSON.stringify([{ Id: "ratio", Expression: "m1" }, metricStat("m1", "RequestDuration", true)]),
    });
    templates.set(`${namespace}/not-json`, {
      provider: { type: "cloudwatch", region, address: moto },
      query: "SELECT AVG(RequestDuration) FROM",
    });
    templates.set(`${namespace}/no-region`, {
      provider: { type: "cloudwatch", address: moto },
      query: JSON.stringify([metricStat("m1", "RequestDuration", true)]),
    });
    const results = await runMetrics(
      target([metric("stale"), metric("two"), metric("not-json"), metric("no-region")]),
    );
    assert.deepEqual(
      results.map((r) => [r.verdict, r.message]),
      [
        [
          "error",
          "stale: no datapoints for query stale in the last 10m (is the canary receiving traffic? are the metric's namespace, name and dimensions right?)",
        ],
        [
          "error",
          'two: 2 queries return data (ratio, m1): set "ReturnData": false on every query but the one whose value counts',
        ],
        [
          "error",
          `not-json: the query is not JSON (Unexpected token 'S', "SELECT AVG"... is not valid JSON): write a JSON list of CloudWatch MetricDataQueries, such as [{"Id": "e1", "Expression": "m1 / m2"}, {"Id": "m1", "MetricStat": {...}, "ReturnData": false}, ...]`,
        ],
        [
          "error",
          "no-region: the cloudwatch provider needs provider.region, the AWS region of the metrics (such as us-east-1)",
        ],
      ],
    );
  });

  test("isOnline answers for moto and explains an unreachable endpoint", async () => {
    await createMetricProvider("cloudwatch", settings(moto)).isOnline();
    const port = await freePort();
    await assert.rejects(
      createMetricProvider("cloudwatch", settings(`http://127.0.0.1:${port}`)).isOnline(),
      (error: unknown) => {
        assert.ok(error instanceof MetricQueryError);
        assert.equal(error.kind, "unreachable");
        assert.equal(
          error.message,
          `cannot query CloudWatch in us-east-1 at http://127.0.0.1:${port}: cannot connect to 127.0.0.1:${port}: connection refused`,
        );
        return true;
      },
    );
  });

  test("without AWS credentials the check fails and says how to give the operator an identity", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      // Another region: a new client, whose credentials are looked up afresh.
      const provider = createMetricProvider("cloudwatch", settings(moto, { region: "eu-west-3" }));
      await assert.rejects(provider.isOnline(), (error: unknown) => {
        assert.ok(error instanceof MetricQueryError);
        assert.equal(error.kind, "config");
        assert.match(
          error.message,
          /^no AWS credentials for CloudWatch in eu-west-3 at http:\/\/127\.0\.0\.1:\d+: give the operator an AWS identity \(an IAM role for its service account, an instance or container role, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment\) with cloudwatch:GetMetricData/,
        );
        return true;
      });
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.key;
    }
  });

  test("the operator's deny-local policy refuses a loopback endpoint, by address or by name", async () => {
    const query = JSON.stringify([metricStat("m1", "RequestDuration", true)]);
    const port = new URL(moto).port;
    const policy =
      "a loopback address, and this operator denies loopback and link-local destinations (--deny-local-destinations)";
    const byAddress = createMetricProvider("cloudwatch", settings(moto, { denyLocal: true }));
    await assert.rejects(byAddress.runQuery(query, { intervalMs: MINUTE }), {
      name: "DestinationError",
      message: `127.0.0.1 is ${policy}`,
    });
    const byName = createMetricProvider(
      "cloudwatch",
      settings(`http://localhost:${port}`, { denyLocal: true }),
    );
    await assert.rejects(byName.runQuery(query, { intervalMs: MINUTE }), (error: unknown) => {
      assert.ok(error instanceof MetricQueryError);
      assert.match(
        error.message,
        new RegExp(
          `^cannot query CloudWatch in us-east-1 at http://localhost:${port}: localhost resolves to (127\\.0\\.0\\.1|::1), ${policy.replace(/[()]/g, "\\$&")}$`,
        ),
      );
      return true;
    });
  });
});
