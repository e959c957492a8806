/**
 * The runMetrics activity against the test world's Prometheus scraping the mesh simulator: the
 * builtin metrics for Istio and Gateway API names, MetricTemplates with variables and threshold
 * ranges, secretRef credentials through an authenticating proxy, TLS, headers, and every way a
 * query can fail, each one a failed check with its reason and never an exception.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { MetricResult, Target } from "../../workflows/activity-port.ts";
import { type MeshApp, type MeshSimulator, startMeshSimulator } from "../harness/mesh-simulator.ts";
import { freePort, waitFor } from "../harness/process.ts";
import { waitForTargetUp } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec } from "../unit/helpers/specs.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { type ProxyServer, type Receiver, startAuthProxy, startReceiver } from "./webhooks-servers.ts";

const world = worldEnv();
const namespace = `metrics-${process.pid}`;
const kc = new KubeConfig();
kc.loadFromFile(world.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({
  resources,
  config: parseOperatorConfig({ metricsServer: world.prometheusUrl, metricsQueryTimeout: "5s" }),
});

const SUCCESS = { name: "request-success-rate", interval: "5s", thresholdRange: { min: 99 } };
const DURATION = { name: "request-duration", interval: "5s", thresholdRange: { max: 500 } };

function target(
  app: string,
  metrics: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): Target {
  return {
    ref: { namespace, name: app },
    spec: spec(
      { stepWeight: 10, metrics },
      {
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: app },
        service: { port: 80, name: app },
        ...extra,
      },
    ),
    revision: "5f6d8c",
  };
}

/** Runs the metrics until `ready` holds (Prometheus needs a few scrapes of a new series), then returns them. */
function measureUntil(
  canary: Target,
  ready: (results: MetricResult[]) => boolean,
  run: (t: Target) => Promise<MetricResult[]> = runMetrics,
): Promise<MetricResult[]> {
  let last: MetricResult[] = [];
  return waitFor(
    "metric results",
    async () => {
      last = await run(canary);
      if (!ready(last)) throw new Error(JSON.stringify(last));
      return last;
    },
    { timeoutMs: 45_000, intervalMs: 500 },
  );
}

const near = (value: number | undefined, expected: number, tolerance: number) =>
  value !== undefined && Math.abs(value - expected) <= tolerance;

describe("metrics against Prometheus and the mesh simulator", () => {
  let mesh: MeshSimulator;

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    mesh = await startMeshSimulator({
      kubeconfig: world.kubeconfig,
      prometheusTargetsDir: world.prometheusTargetsDir,
      job: `metrics-test-${process.pid}`,
    });
    const apps: (Omit<MeshApp, "namespace" | "service" | "target"> & {
      name: string;
      canaryWeight: number;
    })[] = [
      { name: "healthy", router: "virtualservice", canaryWeight: 50 },
      { name: "faulty", router: "virtualservice", canaryWeight: 50, canary: { errorRate: 0.1 } },
      {
        name: "slow",
        router: "virtualservice",
        canaryWeight: 50,
        canary: { latency: [{ ms: 500, share: 1 }] },
      },
      { name: "gateway", router: "httproute", canaryWeight: 50, canary: { errorRate: 0.1 } },
      { name: "quiet", router: "virtualservice", canaryWeight: 0 },
    ];
    for (const { name, canaryWeight, ...app } of apps) {
      await createRoute(app.router, name, 100 - canaryWeight, canaryWeight);
      mesh.add({ namespace, service: name, target: name, ...app });
    }
    await waitForTargetUp(world.prometheusUrl, mesh.job as string);
  });
  after(async () => {
    await mesh.stop();
    await core.deleteNamespace({ name: namespace });
  });

  test("builtin success rate and duration pass for a healthy canary, with their values", async () => {
    const results = await measureUntil(
      target("healthy", [SUCCESS, DURATION]),
      ([rate, duration]) => near(rate?.value, 100, 0) && near(duration?.value, 24.85, 0.1),
    );
    assert.deepEqual(results, [
      {
        name: "request-success-rate",
        thresholdRange: { min: 99 },
        value: 100,
        verdict: "pass",
        message: "request-success-rate 100.00% >= 99%",
      },
      {
        name: "request-duration",
        thresholdRange: { max: 500 },
        value: results[1]?.value,
        verdict: "pass",
        // 20 ms lies in Istio's (10, 25] bucket: Prometheus interpolates p99 to 24.85.
        message: "request-duration 24.85ms <= 500ms",
      },
    ]);
  });

  test("the success rate fails a canary answering 10% errors, with the number", async () => {
    const [rate] = await measureUntil(target("faulty", [SUCCESS]), ([r]) => near(r?.value, 90, 0.5));
    assert.equal(rate?.verdict, "fail");
    assert.match(rate?.message ?? "", /^request-success-rate (89\.[5-9]\d|90\.[0-4]\d)% < 99%$/);
  });

  test("the duration fails a canary with a 500 ms p99, with the number", async () => {
    const slow = { ...DURATION, thresholdRange: { max: 400 } };
    const [duration] = await measureUntil(target("slow", [slow]), ([d]) => near(d?.value, 497.5, 1));
    assert.equal(duration?.verdict, "fail");
    // 500 ms lies in the (250, 500] bucket: p99 interpolates to 497.5.
    assert.equal(duration?.message, "request-duration 497.50ms > 400ms");
  });

  test("Gateway API canaries are measured with Envoy's upstream cluster names", async () => {
    const canary = target("gateway", [SUCCESS, DURATION], { provider: "gatewayapi:v1" });
    const [rate, duration] = await measureUntil(
      canary,
      ([r, d]) => near(r?.value, 90, 0.5) && d?.value !== undefined,
    );
    assert.equal(rate?.verdict, "fail");
    assert.match(rate?.message ?? "", /^request-success-rate (89|90)\.\d\d% < 99%$/);
    assert.equal(duration?.verdict, "pass");
  });

  test("a canary that receives no traffic fails with no values found, not a crash", async () => {
    const [rate] = await runMetrics(target("quiet", [SUCCESS]));
    assert.equal(rate?.verdict, "error");
    assert.equal(rate?.value, undefined);
    assert.match(
      rate?.message ?? "",
      /^request-success-rate: no values found \(is the canary receiving traffic\?\) for query /,
    );
  });

  test("a MetricTemplate with variables, checked against a threshold range's min and max", async () => {
    templates.set(`${namespace}/canary-rps`, {
      provider: { type: "prometheus" },
      query:
        'sum(rate(istio_requests_total{reporter="{{ variables.reporter }}",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}]))',
    });
    const metric = (thresholdRange: object, suffix: string) => ({
      name: `canary-rps-${suffix}`,
      interval: "5s",
      templateRef: { name: "canary-rps" },
      templateVariables: { reporter: "destination" },
      thresholdRange,
    });
    // 100 requests/s, half of them to the canary.
    const canary = target("healthy", [
      metric({ min: 10, max: 100 }, "a"),
      metric({ min: 60, max: 100 }, "b"),
      metric({ min: 0, max: 40 }, "c"),
    ]);
    const results = await measureUntil(canary, (all) => all.every((r) => near(r.value, 50, 2)));
    // Each metric is its own query, so each may see a slightly different rate.
    const [a, b, c] = results.map((r) => r.value?.toFixed(2));
    assert.deepEqual(
      results.map((r) => [r.verdict, r.message]),
      [
        ["pass", `canary-rps-a ${a} within [10, 100]`],
        ["fail", `canary-rps-b ${b} < 60`],
        ["fail", `canary-rps-c ${c} > 40`],
      ],
    );
  });

  test("a template in another namespace is found through templateRef.namespace", async () => {
    templates.set("shared-templates/constant", { provider: { type: "prometheus" }, query: "vector(7)" });
    const [result] = await runMetrics(
      target("healthy", [
        {
          name: "seven",
          templateRef: { name: "constant", namespace: "shared-templates" },
          thresholdRange: { max: 10 },
        },
      ]),
    );
    assert.equal(result?.message, "seven 7.00 <= 10");
  });

  describe("secretRef credentials through an authenticating proxy", () => {
    let bearer: ProxyServer;
    let basic: ProxyServer;
    let tls: ProxyServer;
    before(async () => {
      bearer = await startAuthProxy(world.prometheusUrl, "Bearer s3cret-token");
      basic = await startAuthProxy(
        world.prometheusUrl,
        `Basic ${Buffer.from("grafana:pa55").toString("base64")}`,
      );
      tls = await startAuthProxy(world.prometheusUrl, "Bearer s3cret-token", { tls: true });
      for (const [name, data] of [
        ["prom-token", { token: "s3cret-token\n" }],
        ["prom-basic", { username: "grafana", password: "pa55" }],
        ["prom-wrong", { token: "guessed" }],
        ["prom-empty", { unrelated: "x" }],
      ] as const) {
        await core.createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: data } });
      }
    });
    after(async () => {
      await Promise.all([bearer.close(), basic.close(), tls.close()]);
    });

    function viaProxy(name: string, address: string, secret: string, extra: Record<string, unknown> = {}) {
      templates.set(`${namespace}/${name}`, {
        provider: { type: "prometheus", address, secretRef: { name: secret }, ...extra },
        query: `sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}])) > bool 0`,
      });
      return { name, interval: "5s", templateRef: { name }, thresholdRange: { min: 1 } };
    }

    test("a bearer token and basic auth from the Secret get through", async () => {
      const results = await measureUntil(
        target("healthy", [
          viaProxy("bearer", bearer.url, "prom-token"),
          viaProxy("basic", basic.url, "prom-basic"),
        ]),
        (all) => all.every((r) => r.verdict === "pass"),
      );
      assert.deepEqual(
        results.map((r) => r.message),
        ["bearer 1.00 >= 1", "basic 1.00 >= 1"],
      );
      assert.ok(bearer.forwarded.some((url) => url.includes("/api/v1/query?query=")));
    });

    test("wrong or missing credentials fail with the HTTP status and what to check", async () => {
      const [wrong, empty, missing] = await runMetrics(
        target("healthy", [
          viaProxy("wrong", bearer.url, "prom-wrong"),
          viaProxy("empty", bearer.url, "prom-empty"),
          viaProxy("missing", bearer.url, "no-such-secret"),
        ]),
      );
      assert.equal(wrong?.verdict, "error");
      assert.equal(
        wrong?.message,
        `wrong: Prometheus at ${bearer.url} answered HTTP 401 (check the credentials in the template's secretRef): unauthorized: missing or wrong credentials`,
      );
      assert.equal(
        empty?.message,
        `empty: Secret ${namespace}/prom-empty has neither a "token" key nor "username" and "password" keys`,
      );
      assert.equal(
        missing?.message,
        `missing: Secret ${namespace}/no-such-secret (secretRef of MetricTemplate ${namespace}/missing) not found`,
      );
    });

    test("an untrusted certificate fails unless insecureSkipVerify is set", async () => {
      const [strict, lax] = await runMetrics(
        target("healthy", [
          viaProxy("strict", tls.url, "prom-token"),
          viaProxy("lax", tls.url, "prom-token", { insecureSkipVerify: true }),
        ]),
      );
      assert.equal(strict?.verdict, "error");
      assert.match(
        strict?.message ?? "",
        /^strict: cannot query Prometheus at https:\/\/127\.0\.0\.1:\d+: TLS handshake with 127\.0\.0\.1:\d+ failed \(\w+\): the server certificate is not trusted \(set insecureSkipVerify: true to skip verification\)$/,
      );
      assert.equal(lax?.verdict, "pass");
    });
  });

  describe("every failure is a failed check with its reason", () => {
    function template(name: string, spec: Record<string, unknown>) {
      templates.set(`${namespace}/${name}`, spec);
      return { name, interval: "1m", templateRef: { name }, thresholdRange: { max: 1 } };
    }

    test("Prometheus down", async () => {
      const port = await freePort();
      const down = createRunMetrics({
        resources,
        config: parseOperatorConfig({ metricsServer: `http://127.0.0.1:${port}` }),
      });
      const results = await down(target("healthy", [SUCCESS, DURATION]));
      assert.deepEqual(
        results.map((r) => [r.verdict, r.value, r.message]),
        ["request-success-rate", "request-duration"].map((name) => [
          "error",
          undefined,
          `${name}: cannot query Prometheus at http://127.0.0.1:${port}: cannot connect to 127.0.0.1:${port}: connection refused`,
        ]),
      );
    });

    test("a PromQL syntax error, an empty result and several series", async () => {
      const [syntax, empty, several] = await runMetrics(
        target("healthy", [
          template("syntax", {
            provider: { type: "prometheus" },
            query: "sum(rate(istio_requests_total[{{ interval }}]",
          }),
          template("empty", {
            provider: { type: "prometheus" },
            query: 'no_such_metric{namespace="{{ namespace }}"}',
          }),
          template("several", {
            provider: { type: "prometheus" },
            query: 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")',
          }),
        ]),
      );
      assert.equal(syntax?.verdict, "error");
      assert.match(
        syntax?.message ?? "",
        /^syntax: Prometheus at http:\/\/127\.0\.0\.1:\d+ rejected the query \(bad_data\): .*parse error/,
      );
      assert.equal(
        empty?.message,
        `empty: no values found (is the canary receiving traffic?) for query no_such_metric{namespace="${namespace}"}`,
      );
      assert.match(
        several?.message ?? "",
        /^several: the query returned 2 series, not one: aggregate it \(e\.g\. sum\(\.\.\.\)\)/,
      );
    });

    test("a missing template, a bad template, template code and a provider the operator has no credentials for", async () => {
      const results = await runMetrics(
        target("healthy", [
          { name: "ghost", templateRef: { name: "ghost" }, thresholdRange: { max: 1 } },
          template("invalid", { provider: { type: "prometheus" } }),
          template("code", { provider: { type: "prometheus" }, query: '{{ exec "rm -rf /" }}' }),
          template("cloud", { provider: { type: "cloudwatch", region: "eu-west-1" }, query: "[]" }),
        ]),
      );
      assert.ok(results.every((r) => r.verdict === "error" && r.value === undefined));
      assert.deepEqual(
        results.map((r) => r.message),
        [
          `ghost: MetricTemplate ${namespace}/ghost not found`,
          `invalid: MetricTemplate ${namespace}/invalid is invalid: query is required: a non-empty query`,
          `code: MetricTemplate ${namespace}/code: unsupported template expression {{ exec "rm -rf /" }} at line 1, column 1: use one of {{ name }}, {{ namespace }}, {{ target }}, {{ service }}, {{ ingress }}, {{ route }}, {{ interval }} or {{ variables.<key> }}`,
          // Asked whether it answers before any query: without an AWS identity it cannot.
          "cloud: no AWS credentials for CloudWatch in eu-west-1: give the operator an AWS identity (an IAM role for its service account, an instance or container role, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment) with cloudwatch:GetMetricData (Could not load credentials from any providers)",
        ],
      );
    });

    test("a builtin metric whose provider's series need a field the Canary lacks: nginx without ingressRef", async () => {
      const healthy = target("healthy", [SUCCESS]);
      const [rate] = await runMetrics({ ...healthy, spec: { ...healthy.spec, provider: "nginx" } });
      assert.equal(
        rate?.message,
        "request-success-rate: the builtin metric for provider nginx cannot be queried: ingressRef is not set",
      );
    });
  });

  describe("a Prometheus-compatible API served locally", () => {
    let api: Receiver;
    before(async () => {
      api = await startReceiver();
    });
    after(() => api.close());

    test("headers from the template are sent, and a slow answer times out", async () => {
      api.respond((request) =>
        request.url.includes("slow")
          ? { status: 200, delayMs: 5_000 }
          : {
              status: 200,
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                status: "success",
                // vector(1) is how the operator asks whether a Prometheus answers.
                data: {
                  resultType: "vector",
                  result: [{ metric: {}, value: [1, request.url.includes("vector") ? "1" : "3.5"] }],
                },
              }),
            },
      );
      templates.set(`${namespace}/tenant`, {
        provider: {
          type: "prometheus",
          address: `${api.url}/prefix/`,
          headers: { "X-Scope-OrgID": ["tenant-a"] },
        },
        query: 'up{namespace="{{ namespace }}"}',
      });
      templates.set(`${namespace}/slow`, {
        provider: { type: "prometheus", address: `${api.url}/slow` },
        query: "up",
      });
      const quick = createRunMetrics({
        resources,
        config: parseOperatorConfig({ metricsServer: api.url, metricsQueryTimeout: "300ms" }),
      });
      const [tenant, slow] = await quick(
        target("healthy", [
          { name: "tenant", templateRef: { name: "tenant" }, thresholdRange: { max: 5 } },
          { name: "slow", templateRef: { name: "slow" }, thresholdRange: { max: 5 } },
        ]),
      );
      assert.equal(tenant?.message, "tenant 3.50 <= 5");
      const request = api.requests.find((r) => r.url.startsWith("/prefix/") && !r.url.includes("vector"));
      assert.equal(request?.headers["x-scope-orgid"], "tenant-a");
      assert.equal(
        new URL(request?.url ?? "", api.url).searchParams.get("query"),
        `up{namespace="${namespace}"}`,
      );
      assert.equal(slow?.verdict, "error");
      assert.equal(slow?.message, `slow: cannot query Prometheus at ${api.url}/slow: no answer within 300ms`);
    });
  });
});

async function createRoute(
  router: MeshApp["router"],
  name: string,
  primary: number,
  canary: number,
): Promise<void> {
  if (router === "virtualservice") {
    await custom.createNamespacedCustomObject({
      group: "networking.istio.io",
      version: "v1",
      namespace,
      plural: "virtualservices",
      body: {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name },
        spec: {
          hosts: [name],
          http: [
            {
              route: [
                { destination: { host: `${name}-primary` }, weight: primary },
                { destination: { host: `${name}-canary` }, weight: canary },
              ],
            },
          ],
        },
      },
    });
    return;
  }
  await custom.createNamespacedCustomObject({
    group: "gateway.networking.k8s.io",
    version: "v1",
    namespace,
    plural: "httproutes",
    body: {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name },
      spec: {
        rules: [
          {
            backendRefs: [
              { name: `${name}-primary`, port: 80, weight: primary },
              { name: `${name}-canary`, port: 80, weight: canary },
            ],
          },
        ],
      },
    },
  });
}
