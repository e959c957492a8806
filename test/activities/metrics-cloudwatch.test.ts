/**
 * The CloudWatch provider against moto's server, which emulates CloudWatch's GetMetricData and
 * PutMetricData: datapoints put with the AWS SDK, queried through runMetrics (templates in
 * memory) and the provider interface (isOnline). Credentials come from the SDK's default chain:
 * environment keys for most tests; a web identity token exchanged with moto's STS, moto's instance
 * metadata service (IMDSv2) and a container credentials endpoint for the tests of each source,
 * with moto's request recorder showing which key signed the query.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
import { startReceiver } from "./webhooks-servers.ts";

const namespace = `metrics-cloudwatch-${process.pid}`;
const metricNamespace = `DurableCanary/${process.pid}`;
const region = "us-east-1";
const MINUTE = 60_000;

// The SDK's default chain finds these first; moto takes any key.
process.env.AWS_ACCESS_KEY_ID = "AKIDTESTING";
process.env.AWS_SECRET_ACCESS_KEY = "testing-secret";
// No instance metadata service here: a chain without keys must fail fast.
process.env.AWS_EC2_METADATA_DISABLED = "true";

/** Unsets the environment keys, so that the chain looks further. */
const NO_KEYS = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined };

/**
 * Runs `run` with `vars` set (undefined unsets), then restores them: other tests in this process
 * keep the environment keys. The provider keeps a client, and so its credentials, per region:
 * each test that changes the chain's inputs uses a region of its own, so its chain starts afresh.
 */
async function withEnv<T>(vars: Record<string, string | undefined>, run: () => Promise<T>): Promise<T> {
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  apply(vars);
  try {
    return await run();
  } finally {
    apply(saved);
  }
}

/** A request as moto's recorder wrote it down, header names in lower case. */
interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** The access key and session token that signed each GetMetricData request, once each. */
function signers(requests: Recorded[]): { accessKeyId?: string; sessionToken?: string }[] {
  const seen = new Map<string, { accessKeyId?: string; sessionToken?: string }>();
  for (const r of requests.filter((r) => r.headers["x-amz-target"]?.endsWith(".GetMetricData"))) {
    const signer = {
      accessKeyId: /Credential=([^/]+)\//.exec(r.headers.authorization ?? "")?.[1],
      sessionToken: r.headers["x-amz-security-token"],
    };
    seen.set(JSON.stringify(signer), signer);
  }
  return [...seen.values()];
}

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

  /** One call to moto's own API (or its metadata service), which must succeed. */
  async function motoApi(path: string, method = "POST"): Promise<Response> {
    const response = await fetch(`${moto}${path}`, { method });
    assert.ok(response.ok, `${method} ${path}: HTTP ${response.status}`);
    return response;
  }

  /** The requests moto received while `run` ran. */
  async function recording(run: () => Promise<void>): Promise<Recorded[]> {
    await motoApi("/moto-api/recorder/reset-recording");
    await motoApi("/moto-api/recorder/start-recording");
    try {
      await run();
    } finally {
      await motoApi("/moto-api/recorder/stop-recording");
    }
    const text = await (await motoApi("/moto-api/recorder/download-recording", "GET")).text();
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const entry = JSON.parse(line) as {
          method: string;
          url: string;
          headers: Record<string, string>;
          body: string | null;
          body_encoded: boolean;
        };
        return {
          method: entry.method,
          path: new URL(entry.url).pathname,
          headers: Object.fromEntries(Object.entries(entry.headers).map(([k, v]) => [k.toLowerCase(), v])),
          body: entry.body_encoded ? Buffer.from(entry.body ?? "", "base64").toString() : (entry.body ?? ""),
        };
      });
  }

  const datapoint = (name: string, value: number, minutesAgo: number) => ({
    MetricName: name,
    Dimensions: [{ Name: "appName", Value: `podinfo.${namespace}` }],
    Timestamp: new Date(Date.now() - minutesAgo * MINUTE),
    Value: value,
    Unit: "Milliseconds" as const,
  });

  /** Puts datapoints in a region (moto keeps metrics per region), with fixed keys, not the chain's. */
  async function putDatapoints(pointsRegion: string, points: ReturnType<typeof datapoint>[]): Promise<void> {
    const writer = new CloudWatchClient({
      region: pointsRegion,
      endpoint: moto,
      credentials: { accessKeyId: "AKIDTESTING", secretAccessKey: "testing-secret" },
    });
    try {
      await writer.send(new PutMetricDataCommand({ Namespace: metricNamespace, MetricData: points }));
    } finally {
      writer.destroy();
    }
  }

  /** The verdict and value of a RequestDuration check in `checkRegion`, where `value` was put. */
  async function latencyIn(checkRegion: string, value: number): Promise<[string, number | undefined]> {
    await putDatapoints(checkRegion, [datapoint("RequestDuration", value, 2)]);
    const name = `latency-${checkRegion}`;
    templates.set(`${namespace}/${name}`, {
      provider: { type: "cloudwatch", region: checkRegion, address: moto },
      query: JSON.stringify([metricStat("m1", "RequestDuration", true)]),
    });
    const [result] = await runMetrics(target([metric(name)]));
    return [result?.verdict ?? "none", result?.value];
  }

  /** The credentials moto's instance metadata service hands out, to compare signers with. */
  async function motoRoleCredentials(): Promise<{ accessKeyId: string; sessionToken: string }> {
    const credentials = (await (
      await motoApi("/latest/meta-data/iam/security-credentials/default-role", "GET")
    ).json()) as { AccessKeyId: string; Token: string };
    return { accessKeyId: credentials.AccessKeyId, sessionToken: credentials.Token };
  }

  before(async () => {
    moto = await onFreshPorts(async (track) => {
      const port = await freePort();
      const server = track(
        supervisor.start({
          name: "moto",
          command: requireBinary("motoServer"),
          args: ["-H", "127.0.0.1", "-p", String(port)],
          // The recorder is started by the tests that read it; its file stays out of the checkout.
          env: { ...process.env, MOTO_RECORDER_FILEPATH: join(supervisor.logDir, "moto-recording.jsonl") },
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
    await putDatapoints(region, [
      datapoint("RequestDuration", 120, 5),
      datapoint("RequestDuration", 250, 2),
      // Older than ten one-minute intervals: outside the window.
      datapoint("StaleDuration", 90, 15),
    ]);
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
    await withEnv(NO_KEYS, async () => {
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
    });
  });

  test("web identity (IRSA): the token file's token is exchanged with STS for the role that signs the query", async () => {
    const roleArn = "arn:aws:iam::123456789012:role/durable-canary";
    const session = `durable-canary-${process.pid}`;
    // What the kubelet projects into the pod: a service account token (its signature is not checked here).
    const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGM6b3BlcmF0b3IifQ.c2ln";
    const tokenFile = join(supervisor.logDir, "web-identity-token");
    writeFileSync(tokenFile, token);
    const requests = await recording(() =>
      withEnv(
        {
          ...NO_KEYS,
          AWS_ROLE_ARN: roleArn,
          AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
          AWS_ROLE_SESSION_NAME: session,
          AWS_ENDPOINT_URL_STS: moto,
        },
        async () => assert.deepEqual(await latencyIn("ap-southeast-2", 150), ["pass", 150]),
      ),
    );
    const exchanges = requests
      .map((r) => new URLSearchParams(r.body))
      .filter((params) => params.get("Action") === "AssumeRoleWithWebIdentity")
      .map((params) => [
        params.get("RoleArn"),
        params.get("RoleSessionName"),
        params.get("WebIdentityToken"),
      ]);
    assert.deepEqual(exchanges, [[roleArn, session, token]]);
    const { sts } = (await (await motoApi("/moto-api/data.json", "GET")).json()) as {
      sts: { AssumedRole: { session_name: string; access_key_id: string; session_token: string }[] };
    };
    const assumed = sts.AssumedRole.filter((role) => role.session_name === session);
    assert.equal(assumed.length, 1);
    assert.deepEqual(signers(requests), [
      { accessKeyId: assumed[0]?.access_key_id, sessionToken: assumed[0]?.session_token },
    ]);
  });

  test("a template's insecureSkipVerify does not reach STS, which receives the service-account token", async () => {
    const tokenFile = join(supervisor.logDir, "web-identity-token-tls");
    writeFileSync(tokenFile, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0bHMifQ.c2ln");
    // An STS stand-in with a certificate no one trusts: only a verifying client refuses it.
    const sts = await startReceiver({ tls: true });
    try {
      await withEnv(
        {
          ...NO_KEYS,
          AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/durable-canary",
          AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
          AWS_ENDPOINT_URL_STS: sts.url,
        },
        async () => {
          const provider = createMetricProvider(
            "cloudwatch",
            settings(moto, { region: "eu-north-1", insecureSkipVerify: true }),
          );
          await assert.rejects(provider.isOnline(), (error: unknown) => {
            assert.ok(error instanceof MetricQueryError);
            assert.equal(error.kind, "config");
            assert.match(error.message, /^no AWS credentials for CloudWatch in eu-north-1 .*certificate/);
            return true;
          });
        },
      );
      assert.equal(sts.requests.length, 0, "the token was sent over an unverified connection");
    } finally {
      await sts.close();
    }
  });

  test("instance role: credentials from the instance metadata service, with an IMDSv2 session token", async () => {
    const role = await motoRoleCredentials();
    const requests = await recording(() =>
      withEnv(
        { ...NO_KEYS, AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: moto },
        async () => assert.deepEqual(await latencyIn("ca-central-1", 160), ["pass", 160]),
      ),
    );
    assert.deepEqual(
      requests
        .filter((r) => r.path.startsWith("/latest/"))
        .map((r) => [r.method, r.path, r.headers["x-aws-ec2-metadata-token"] !== undefined]),
      [
        ["PUT", "/latest/api/token", false],
        ["GET", "/latest/meta-data/iam/security-credentials/", true],
        ["GET", "/latest/meta-data/iam/security-credentials/default-role", true],
      ],
    );
    assert.deepEqual(signers(requests), [role]);
  });

  test("container credentials (EKS Pod Identity, ECS): fetched with the authorization token file's token", async () => {
    const role = await motoRoleCredentials();
    const tokenFile = join(supervisor.logDir, "pod-identity-token");
    writeFileSync(tokenFile, "pod-identity-token");
    // moto serves no container credentials endpoint; its instance role's answers in the same JSON.
    const path = "/latest/meta-data/iam/security-credentials/default-role";
    const requests = await recording(() =>
      withEnv(
        {
          ...NO_KEYS,
          AWS_CONTAINER_CREDENTIALS_FULL_URI: `${moto}${path}`,
          AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
        },
        async () => assert.deepEqual(await latencyIn("sa-east-1", 170), ["pass", 170]),
      ),
    );
    assert.deepEqual(
      requests.filter((r) => r.path === path).map((r) => [r.method, r.headers.authorization]),
      [["GET", "pod-identity-token"]],
    );
    assert.deepEqual(signers(requests), [role]);
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
