/**
 * Where runMetrics sends a query and its credentials: a MetricTemplate's secretRef and headers never
 * go to the Canary's metricsServer, cross-namespace templates are refused when the operator says
 * so, every address is checked when used and redacted in messages, local destinations can be
 * denied, and HTTP_PROXY/NO_PROXY apply. Against local servers, the test world's Prometheus and
 * Secrets in its API server.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { freePort } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec } from "../unit/helpers/specs.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import {
  type ProxyServer,
  type Receiver,
  startAuthProxy,
  startForwardProxy,
  startReceiver,
} from "./webhooks-servers.ts";

const world = worldEnv();
const namespace = `metrics-dest-${process.pid}`;
const kc = new KubeConfig();
kc.loadFromFile(world.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const { templates, resources } = inMemoryTemplates();

const TOKEN = "team-token-s3cret";

/** Answers every query as Prometheus would, with one sample of `value`. */
function prometheusAnswer(value: string) {
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      status: "success",
      data: { resultType: "vector", result: [{ metric: {}, value: [1, value] }] },
    }),
  };
}

function target(metrics: Record<string, unknown>[], extra: Record<string, unknown> = {}): Target {
  return {
    ref: { namespace, name: "podinfo" },
    spec: spec({ stepWeight: 10, metrics }, extra),
    revision: "5f6d8c",
  };
}

function template(name: string, provider: Record<string, unknown>, query = "vector(1)") {
  templates.set(`${namespace}/${name}`, { provider: { type: "prometheus", ...provider }, query });
  return { name, interval: "1m", templateRef: { name }, thresholdRange: { min: 1 } };
}

describe("metric destinations", () => {
  /** The operator's metrics server: the test world's Prometheus behind a gateway that wants the token. */
  let operatorServer: ProxyServer;
  /** A server the Canary's author controls. */
  let authorServer: Receiver;

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "prom-token" }, stringData: { token: TOKEN } },
    });
    operatorServer = await startAuthProxy(world.prometheusUrl, `Bearer ${TOKEN}`);
    authorServer = await startReceiver();
    authorServer.respond(() => prometheusAnswer("1"));
  });
  after(async () => {
    await Promise.all([operatorServer.close(), authorServer.close()]);
    await core.deleteNamespace({ name: namespace });
  });

  test("a template's secretRef and headers go to the operator's metrics server, never to the Canary's metricsServer", async () => {
    authorServer.requests.length = 0;
    const runMetrics = createRunMetrics({
      resources,
      config: parseOperatorConfig({ metricsServer: operatorServer.url, metricsQueryTimeout: "5s" }),
    });
    const results = await runMetrics(
      target(
        [
          template("with-secret", { secretRef: { name: "prom-token" } }),
          template("with-headers", { headers: { Authorization: [`Bearer ${TOKEN}`] } }),
          template("plain", {}),
        ],
        { metricsServer: authorServer.url },
      ),
    );
    assert.deepEqual(
      results.map((r) => r.message),
      ["with-secret 1.00 >= 1", "with-headers 1.00 >= 1", "plain 1.00 >= 1"],
    );
    // Each server is asked whether it answers (vector(1)), then queried.
    assert.equal(operatorServer.forwarded.length, 4, "the credentials went to the operator's server");
    // Flagger's rule still holds for a template without credentials: the Canary's server answers it.
    assert.equal(authorServer.requests.length, 2);
    assert.equal(authorServer.requests[0]?.headers.authorization, undefined);
    assert.ok(authorServer.requests.every((r) => !JSON.stringify(r.headers).includes(TOKEN)));
  });

  test("with --no-cross-namespace-refs a template in another namespace is a failed check that says why", async () => {
    templates.set("shared-templates/constant", { provider: { type: "prometheus" }, query: "vector(7)" });
    const metric = {
      name: "seven",
      templateRef: { name: "constant", namespace: "shared-templates" },
      thresholdRange: { max: 10 },
    };
    const config = (noCrossNamespaceRefs: boolean) =>
      parseOperatorConfig({ metricsServer: world.prometheusUrl, noCrossNamespaceRefs });
    const [refused] = await createRunMetrics({ resources, config: config(true) })(target([metric]));
    assert.equal(refused?.verdict, "error");
    assert.equal(
      refused?.message,
      `seven: templateRef refers to MetricTemplate shared-templates/constant in another namespace, and this operator forbids references to other namespaces (--no-cross-namespace-refs): use a MetricTemplate in namespace ${namespace}`,
    );
    const [allowed] = await createRunMetrics({ resources, config: config(false) })(target([metric]));
    assert.equal(allowed?.message, "seven 7.00 <= 10");
  });

  test("an address that is not an absolute http(s) URL fails the check, naming where it came from", async () => {
    const runMetrics = createRunMetrics({
      resources,
      config: parseOperatorConfig({ metricsServer: world.prometheusUrl }),
    });
    const [fromTemplate] = await runMetrics(
      target([template("bad-address", { address: "prometheus:9090" })]),
    );
    assert.equal(fromTemplate?.verdict, "error");
    assert.match(
      fromTemplate?.message ?? "",
      new RegExp(
        `^bad-address: .*MetricTemplate ${namespace}/bad-address.*provider\\.address.*prometheus:9090`,
      ),
    );
    // Validation refuses such a spec now; a workflow may still hold one accepted by an older version.
    const canary = target([{ name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } }]);
    const [fromCanary] = await runMetrics({
      ...canary,
      spec: { ...canary.spec, metricsServer: "ftp://metrics.test/" },
    });
    assert.equal(
      fromCanary?.message,
      `request-success-rate: spec.metricsServer of Canary ${namespace}/podinfo "ftp://metrics.test/" is not an absolute http(s) URL such as "https://host:port/path"`,
    );
  });

  test("messages do not show an address's userinfo or query", async () => {
    const port = await freePort();
    const runMetrics = createRunMetrics({
      resources,
      config: parseOperatorConfig({ metricsServer: `http://grafana:pa55@127.0.0.1:${port}/?org=s3cret` }),
    });
    const [builtin, fromTemplate] = await runMetrics(
      target([
        { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } },
        template("leaky", { address: `http://127.0.0.1:${port}/prom?tenant_token=t0k` }),
      ]),
    );
    const refused = `cannot connect to 127.0.0.1:${port}: connection refused`;
    assert.equal(
      builtin?.message,
      `request-success-rate: cannot query Prometheus at http://***@127.0.0.1:${port}/?***: ${refused}`,
    );
    assert.equal(
      fromTemplate?.message,
      `leaky: cannot query Prometheus at http://127.0.0.1:${port}/prom?***: ${refused}`,
    );
  });

  test("with the deny option, loopback addresses are refused without a request, except the operator's own", async () => {
    authorServer.requests.length = 0;
    const port = new URL(authorServer.url).port;
    const runMetrics = createRunMetrics({
      resources,
      config: parseOperatorConfig({ metricsServer: authorServer.url, denyLocalDestinations: true }),
    });
    const builtin = { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } };
    const [literal, named, operators] = await runMetrics(
      target([
        template("literal", { address: authorServer.url }),
        template("named", { address: `http://localhost:${port}` }),
        builtin,
      ]),
    );
    const denied =
      "a loopback address, and this operator denies loopback and link-local destinations (--deny-local-destinations)";
    assert.equal(
      literal?.message,
      `literal: cannot query Prometheus at ${authorServer.url}: 127.0.0.1 is ${denied}`,
    );
    assert.match(
      named?.message ?? "",
      new RegExp(
        `^named: cannot query Prometheus at http://localhost:${port}: localhost resolves to (127\\.0\\.0\\.1|::1), ${denied.replace(/[()]/g, "\\$&")}$`,
      ),
    );
    // The operator's metrics server is its admin's choice, not an author's: it is not refused.
    assert.equal(operators?.message, "request-success-rate 1.00% < 99%");
    // Asked whether it answers, then queried; the refused ones got no request at all.
    assert.equal(authorServer.requests.length, 2);

    const [overridden] = await runMetrics(target([builtin], { metricsServer: authorServer.url }));
    assert.equal(
      overridden?.message,
      `request-success-rate: cannot query Prometheus at ${authorServer.url}: 127.0.0.1 is ${denied}`,
    );
    assert.equal(authorServer.requests.length, 2);
  });

  test("queries go through HTTP_PROXY, and NO_PROXY sends them directly", async () => {
    authorServer.requests.length = 0;
    const proxy = await startForwardProxy({ connectTo: "127.0.0.1" });
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    try {
      const address = `http://prometheus.proxy-only.test:${new URL(authorServer.url).port}`;
      const runMetrics = createRunMetrics({
        resources,
        config: parseOperatorConfig({ metricsServer: world.prometheusUrl }),
      });
      const canary = target([template("proxied", { address })]);
      process.env.HTTP_PROXY = proxy.url;
      delete process.env.NO_PROXY;
      const [proxied] = await runMetrics(canary);
      assert.equal(proxied?.message, "proxied 1.00 >= 1");
      // Whether Prometheus answers (asked once per rollout), then the query.
      assert.equal(proxy.forwarded.length, 2);
      assert.ok(proxy.forwarded.every((url) => url.startsWith(`${address}/api/v1/query?`)));

      process.env.NO_PROXY = ".proxy-only.test";
      const [direct] = await runMetrics(canary);
      assert.equal(
        direct?.message,
        `proxied: cannot query Prometheus at ${address}: cannot resolve host prometheus.proxy-only.test`,
      );
      assert.equal(proxy.forwarded.length, 2);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await proxy.close();
    }
  });
});
