/**
 * The alert activity against local HTTP receivers standing in for Slack, Teams, Discord,
 * Rocket.Chat and Google Chat: each provider's native payload, severity filtering, addresses from
 * Secrets in the real API server, proxies, the operator's global provider, deliveries that fail
 * (retryable or not) without posting twice on a retry, checked and redacted addresses, refused
 * cross-namespace providers, denied local destinations and HTTP_PROXY.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { MockActivityEnvironment } from "@temporalio/testing";
import { ALERT_NOT_DELIVERED, type AlertDependencies, createAlert } from "../../activities/alerts/index.ts";
import { type AnalysisResources, kubeAnalysisResources } from "../../activities/analysis-resources.ts";
import { ALERT_PROVIDER_TYPES } from "../../src/api/canary.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { Alert, Target } from "../../workflows/activity-port.ts";
import { freePort } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec } from "../unit/helpers/specs.ts";
import { type ProxyServer, type Receiver, startForwardProxy, startReceiver } from "./webhooks-servers.ts";

const world = worldEnv();
const namespace = `alerts-${process.pid}`;

const rollback: Alert = {
  severity: "error",
  phase: "Failed",
  message: "Canary podinfo.alerts rolled back: request-success-rate 93.10% < 99%",
};

function target(alerts: Record<string, unknown>[]): Target {
  return { ref: { namespace, name: "podinfo" }, spec: spec({ stepWeight: 10, alerts }), revision: "5f6d8c" };
}

function ref(name: string, severity = "info") {
  return { name: `alert-${name}`, severity, providerRef: { name } };
}

describe("alerts", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(world.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const operator = new KubeConfig();
  operator.loadFromFile(world.operatorKubeconfig);
  const kube = kubeAnalysisResources(operator);
  const providers = new Map<string, unknown>();
  /**
   * AlertProviders in memory, so tests can use specs the CRD schema would refuse (reading them from the
   * cluster is tested in metrics-analysis-resources.test.ts); Secrets from the API server, as the operator.
   */
  const resources: AnalysisResources = {
    ...kube,
    alertProvider: async (ns, name) => providers.get(`${ns}/${name}`),
  };
  const deps = (extra: Partial<AlertDependencies> = {}): AlertDependencies => ({
    resources,
    config: parseOperatorConfig({ clusterName: "test-world" }),
    ...extra,
  });
  let receiver: Receiver;

  /** The alert's failure (an ApplicationFailure), or undefined if it was delivered. */
  async function failure(run: Promise<void>): Promise<ApplicationFailure | undefined> {
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error !== undefined) assert.ok(error instanceof ApplicationFailure, String(error));
    return error;
  }

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await core.deleteNamespace({ name: namespace });
  });

  function reset(): void {
    receiver.requests.length = 0;
    receiver.respond(() => ({ status: 200, body: "ok" }));
    providers.clear();
  }

  function bodies(path?: string): Record<string, unknown>[] {
    return receiver.requests
      .filter((r) => path === undefined || r.url === path)
      .map((r) => JSON.parse(r.body) as Record<string, unknown>);
  }

  for (const type of ALERT_PROVIDER_TYPES) {
    test(`${type}: posts its native format to the provider's address`, async () => {
      reset();
      providers.set(`${namespace}/${type}`, {
        type,
        address: `${receiver.url}/${type}`,
        channel: "#deploys",
        username: "canary-bot",
      });
      await createAlert(deps())(target([ref(type)]), rollback);
      assert.equal(receiver.requests.length, 1);
      assert.equal(receiver.requests[0]?.headers["content-type"], "application/json");
      const [body = {}] = bodies(`/${type}`);
      const text = JSON.stringify(body);
      assert.ok(text.includes("request-success-rate 93.10% < 99%"), "the message with its numbers");
      assert.ok(text.includes("podinfo.") && text.includes("test-world"), "the canary and the cluster");
      switch (type) {
        case "slack":
          assert.equal(body.channel, "#deploys");
          assert.equal(body.username, "canary-bot");
          assert.equal((body.attachments as { color: string }[])[0]?.color, "#a30200");
          break;
        case "rocket":
          assert.equal(body.alias, "canary-bot");
          assert.ok(Array.isArray(body.attachments));
          break;
        case "discord":
          assert.equal((body.embeds as { color: number }[])[0]?.color, 0xa30200);
          break;
        case "msteams":
          assert.equal(
            (body.attachments as { contentType: string }[])[0]?.contentType,
            "application/vnd.microsoft.card.adaptive",
          );
          break;
        case "gchat":
          assert.ok(typeof body.text === "string" && Array.isArray(body.cardsV2));
          break;
      }
    });
  }

  test("a provider without username and channel posts as flagger to general, as Flagger does", async () => {
    reset();
    providers.set(`${namespace}/bare`, { type: "slack", address: `${receiver.url}/bare` });
    await createAlert(deps())(target([ref("bare")]), rollback);
    const [body = {}] = bodies("/bare");
    assert.equal(body.username, "flagger");
    assert.equal(body.channel, "general");
  });

  test("severity filtering: info receives all, warn receives warn and error, error only errors", async () => {
    reset();
    for (const level of ["info", "warn", "error"]) {
      providers.set(`${namespace}/${level}`, { type: "slack", address: `${receiver.url}/${level}` });
    }
    const canary = target([ref("info", "info"), ref("warn", "warn"), ref("error", "error")]);
    const alert = createAlert(deps());
    const reached = async (severity: Alert["severity"]) => {
      receiver.requests.length = 0;
      await alert(canary, { ...rollback, severity });
      return receiver.requests.map((r) => r.url).sort();
    };
    assert.deepEqual(await reached("info"), ["/info"]);
    assert.deepEqual(await reached("warn"), ["/info", "/warn"]);
    assert.deepEqual(await reached("error"), ["/error", "/info", "/warn"]);
  });

  test("the address, proxy and bot token can come from the provider's Secret", async () => {
    reset();
    const proxy: ProxyServer = await startForwardProxy();
    try {
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: "slack-hook" },
          stringData: { address: `${receiver.url}/from-secret`, proxy: proxy.url, token: "xoxb-test" },
        },
      });
      providers.set(`${namespace}/slack`, { type: "slack", secretRef: { name: "slack-hook" } });
      await createAlert(deps())(target([ref("slack")]), rollback);
      assert.deepEqual(
        receiver.requests.map((r) => r.url),
        ["/from-secret"],
      );
      assert.equal(receiver.requests[0]?.headers.authorization, "Bearer xoxb-test");
      assert.deepEqual(proxy.forwarded, [`${receiver.url}/from-secret`]);
    } finally {
      await proxy.close();
    }
  });

  test("an AlertProvider's proxy carries the post", async () => {
    reset();
    const proxy = await startForwardProxy();
    try {
      providers.set(`${namespace}/teams`, {
        type: "msteams",
        address: `${receiver.url}/teams`,
        proxy: proxy.url,
      });
      await createAlert(deps())(target([ref("teams")]), rollback);
      assert.deepEqual(proxy.forwarded, [`${receiver.url}/teams`]);
      assert.equal(receiver.requests.length, 1);
    } finally {
      await proxy.close();
    }
  });

  test("a provider in another namespace is found through providerRef.namespace", async () => {
    reset();
    providers.set("ops/shared", { type: "discord", address: `${receiver.url}/shared` });
    await createAlert(deps())(
      target([{ name: "ops", providerRef: { name: "shared", namespace: "ops" } }]),
      rollback,
    );
    assert.deepEqual(
      receiver.requests.map((r) => r.url),
      ["/shared"],
    );
  });

  test("the operator's global provider receives every canary's alerts at or above its severity", async () => {
    reset();
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "global-hook" }, stringData: { address: `${receiver.url}/global` } },
    });
    const config = parseOperatorConfig({
      globalAlertProvider: { type: "gchat", secretRef: { namespace, name: "global-hook" }, severity: "warn" },
    });
    const alert = createAlert(deps({ config }));
    await alert(target([]), { ...rollback, severity: "info" });
    assert.equal(receiver.requests.length, 0, "info is below the global provider's warn");
    await alert(target([]), { ...rollback, severity: "warn" });
    assert.deepEqual(
      receiver.requests.map((r) => r.url),
      ["/global"],
    );
  });

  test("no recipient: nothing is read or sent", async () => {
    reset();
    let reads = 0;
    const counting: AnalysisResources = {
      ...resources,
      alertProvider: async () => {
        reads++;
        return undefined;
      },
    };
    await createAlert(deps({ resources: counting }))(target([ref("error-only", "error")]), {
      ...rollback,
      severity: "info",
    });
    assert.equal(reads, 0);
    assert.equal(receiver.requests.length, 0);
  });

  test("a missing provider or secret fails without retry; the others still get the alert", async () => {
    reset();
    providers.set(`${namespace}/ok`, { type: "slack", address: `${receiver.url}/ok` });
    providers.set(`${namespace}/no-secret`, { type: "slack", secretRef: { name: "absent" } });
    const error = await createAlert(deps())(
      target([ref("missing"), ref("no-secret"), ref("ok")]),
      rollback,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.type, ALERT_NOT_DELIVERED);
    assert.equal(error.nonRetryable, true);
    assert.match(
      error.message,
      new RegExp(
        `AlertProvider ${namespace}/missing \\(alert alert-missing\\): AlertProvider ${namespace}/missing not found`,
      ),
    );
    assert.match(error.message, new RegExp(`Secret ${namespace}/absent not found`));
    assert.deepEqual(
      receiver.requests.map((r) => r.url),
      ["/ok"],
    );
  });

  test("an unreachable or failing hook is retryable, and a retry skips the providers already reached", async () => {
    reset();
    const port = await freePort();
    providers.set(`${namespace}/ok`, { type: "slack", address: `${receiver.url}/ok` });
    providers.set(`${namespace}/down`, { type: "slack", address: `http://127.0.0.1:${port}/` });
    providers.set(`${namespace}/busy`, { type: "slack", address: `${receiver.url}/busy` });
    receiver.respond((request) =>
      request.url === "/busy" ? { status: 503, body: "rate limited" } : { status: 200 },
    );
    const canary = target([ref("ok"), ref("down"), ref("busy")]);
    const alert = createAlert(deps());

    const first = new MockActivityEnvironment();
    let recorded: unknown;
    first.on("heartbeat", (details: unknown) => {
      recorded = details;
    });
    const error = await first.run(alert, canary, rollback).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.nonRetryable, false);
    assert.match(error.message, /connection refused/);
    assert.match(error.message, /slack hook answered HTTP 503: rate limited/);
    assert.deepEqual(recorded, [`AlertProvider ${namespace}/ok (alert alert-ok)`]);

    receiver.requests.length = 0;
    receiver.respond(() => ({ status: 200 }));
    const retry = new MockActivityEnvironment({ heartbeatDetails: recorded });
    await retry.run(alert, canary, rollback).catch(() => undefined);
    assert.deepEqual(
      receiver.requests.map((r) => r.url),
      ["/busy"],
      "the retry posts only where the first attempt failed",
    );
  });

  test("with --no-cross-namespace-refs a provider in another namespace is refused, without retry", async () => {
    reset();
    providers.set("ops/shared", { type: "discord", address: `${receiver.url}/shared` });
    const config = parseOperatorConfig({ noCrossNamespaceRefs: true });
    const error = await failure(
      createAlert(deps({ config }))(
        target([{ name: "ops", providerRef: { name: "shared", namespace: "ops" } }]),
        rollback,
      ),
    );
    assert.equal(error?.nonRetryable, true);
    assert.equal(
      error?.message,
      `alert not delivered to AlertProvider ops/shared (alert ops): providerRef refers to another namespace, and this operator forbids references to other namespaces (--no-cross-namespace-refs): use an AlertProvider in namespace ${namespace}`,
    );
    assert.equal(receiver.requests.length, 0);
  });

  test("an address from a Secret that is not an http(s) URL fails without retry, named and redacted", async () => {
    reset();
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "schemeless-hook" },
        stringData: { address: "hooks.slack.com/services/T0/B0/s3cret-hook-token" },
      },
    });
    providers.set(`${namespace}/slack`, { type: "slack", secretRef: { name: "schemeless-hook" } });
    const error = await failure(createAlert(deps())(target([ref("slack")]), rollback));
    assert.equal(error?.nonRetryable, true);
    assert.equal(
      error?.message,
      `alert not delivered to AlertProvider ${namespace}/slack (alert alert-slack): the address key of Secret ${namespace}/schemeless-hook "hooks.slack.com/services/***" is not an absolute http(s) URL such as "https://host:port/path"`,
    );
  });

  test("with the deny option, a loopback address or proxy is refused without a request or a retry", async () => {
    reset();
    const proxy = await startForwardProxy();
    try {
      providers.set(`${namespace}/local`, { type: "slack", address: `${receiver.url}/local` });
      providers.set(`${namespace}/via-local-proxy`, {
        type: "msteams",
        address: "http://chat.example.test/hook",
        proxy: proxy.url,
      });
      const config = parseOperatorConfig({ denyLocalDestinations: true });
      const error = await failure(
        createAlert(deps({ config }))(target([ref("local"), ref("via-local-proxy")]), rollback),
      );
      assert.equal(error?.nonRetryable, true);
      const denied =
        "127.0.0.1 is a loopback address, and this operator denies loopback and link-local destinations (--deny-local-destinations)";
      assert.equal(
        error?.message,
        `alert not delivered to AlertProvider ${namespace}/local (alert alert-local): slack hook: ${denied}; ` +
          `AlertProvider ${namespace}/via-local-proxy (alert alert-via-local-proxy): msteams hook: ${denied}`,
      );
      assert.equal(receiver.requests.length, 0);
      assert.deepEqual(proxy.forwarded, []);
    } finally {
      await proxy.close();
    }
  });

  test("with the deny option, the operator's global provider still posts to its loopback address", async () => {
    reset();
    providers.set(`${namespace}/local`, { type: "slack", address: `${receiver.url}/local` });
    const config = parseOperatorConfig({
      denyLocalDestinations: true,
      globalAlertProvider: { type: "slack", address: `${receiver.url}/global` },
    });
    const error = await failure(createAlert(deps({ config }))(target([ref("local")]), rollback));
    assert.match(error?.message ?? "", /AlertProvider .*\/local .*127\.0\.0\.1 is a loopback address/);
    assert.doesNotMatch(error?.message ?? "", /global/);
    assert.deepEqual(
      receiver.requests.map((r) => r.url),
      ["/global"],
    );
  });

  test("alerts go through HTTP_PROXY from the environment", async () => {
    reset();
    const proxy = await startForwardProxy({ connectTo: "127.0.0.1" });
    const saved = process.env.HTTP_PROXY;
    try {
      const address = `http://chat.proxy-only.test:${new URL(receiver.url).port}/hook`;
      providers.set(`${namespace}/rocket`, { type: "rocket", address });
      process.env.HTTP_PROXY = proxy.url;
      await createAlert(deps())(target([ref("rocket")]), rollback);
      assert.deepEqual(proxy.forwarded, [address]);
      assert.deepEqual(
        receiver.requests.map((r) => r.url),
        ["/hook"],
      );
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
      await proxy.close();
    }
  });
});
