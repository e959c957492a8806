/**
 * The runWebhooks activity against real local HTTP(S) servers: every webhook type's payload,
 * 2xx and non-2xx answers, timeouts, retries with backoff, disableTLS, bounded excerpts, the order
 * and stopping rules of a round, a slow webhook that cannot hold a round past its budget, the
 * idempotency key, checked and redacted addresses, denied local destinations, and proxies from
 * the environment.
 */
import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { after, before, describe, test } from "node:test";
import { MockActivityEnvironment } from "@temporalio/testing";
import {
  callWebhook,
  createRunWebhooks,
  IDEMPOTENCY_HEADER,
  type RunWebhooks,
  webhookPayload,
} from "../../activities/webhooks.ts";
import { WEBHOOK_TYPES, type WebhookType } from "../../src/api/canary.ts";
import type { ResolvedWebhook } from "../../src/api/defaults.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { freePort } from "../harness/process.ts";
import { spec } from "../unit/helpers/specs.ts";
import { type Receiver, startForwardProxy, startReceiver } from "./webhooks-servers.ts";

const runWebhooks = createRunWebhooks({ config: { denyLocalDestinations: false } });

function resolved(name: string, url: string, extra: Partial<ResolvedWebhook> = {}): ResolvedWebhook {
  return {
    name,
    type: "rollout",
    url,
    timeoutMs: 2_000,
    retries: 0,
    disableTLS: false,
    muteAlert: false,
    metadata: {},
    gateTimeoutMs: undefined,
    ...extra,
  };
}

/** Runs `work` with the proxy variables set as given (the others unset), then restores them. */
async function withProxyEnv<T>(vars: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const names = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"];
  const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
  for (const name of names) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    return await work();
  } finally {
    for (const name of names) {
      const value = saved[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

function target(webhooks: Record<string, unknown>[]): Target {
  return {
    ref: { namespace: "shop", name: "podinfo" },
    spec: spec({ stepWeight: 10, webhooks }),
    revision: "5f6d8c",
  };
}

describe("webhooks", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());

  function reset(): void {
    receiver.requests.length = 0;
    receiver.respond(() => ({ status: 200, body: "ok" }));
  }

  for (const type of WEBHOOK_TYPES) {
    test(`${type}: POSTs Flagger's JSON payload and reports a 2xx as pass`, async () => {
      reset();
      const canary = target([
        { name: `${type}-hook`, type, url: `${receiver.url}/${type}`, metadata: { cmd: "check" } },
      ]);
      const event = {
        type: "Normal",
        reason: "Progressing",
        message: "Advance podinfo.shop canary weight 10",
      } as const;
      const results = await runWebhooks(canary, type, "Progressing", type === "event" ? event : undefined);

      assert.deepEqual(results, [
        { name: `${type}-hook`, type, verdict: "pass", statusCode: 200, message: "HTTP 200: ok" },
      ]);
      const [request] = receiver.requests;
      assert.equal(request?.method, "POST");
      assert.equal(request?.url, `/${type}`);
      assert.equal(request?.headers["content-type"], "application/json");
      const body = JSON.parse(request?.body ?? "{}") as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ["checksum", "metadata", "name", "namespace", "phase"]);
      assert.equal(body.name, "podinfo");
      assert.equal(body.namespace, "shop");
      assert.equal(body.phase, "Progressing");
      assert.equal(body.checksum, "5f6d8c");
      const metadata = body.metadata as Record<string, string>;
      assert.equal(metadata.cmd, "check");
      if (type === "event") {
        assert.equal(metadata.eventMessage, event.message);
        assert.equal(metadata.eventType, "Normal");
        assert.ok(Math.abs(Number(metadata.timestamp) - Date.now()) < 60_000, "timestamp in milliseconds");
      } else {
        assert.equal(metadata.eventMessage, undefined);
      }
    });
  }

  test("only webhooks of the asked type are called, and none is an empty list", async () => {
    reset();
    const canary = target([
      { name: "load", type: "rollout", url: receiver.url },
      { name: "smoke", type: "pre-rollout", url: receiver.url },
    ]);
    assert.deepEqual(await runWebhooks(canary, "confirm-promotion", "Progressing"), []);
    const results = await runWebhooks(canary, "rollout", "Progressing");
    assert.deepEqual(
      results.map((r) => r.name),
      ["load"],
    );
    assert.equal(receiver.requests.length, 1);
  });

  test("a non-2xx answer fails with its status and body, and a 4xx is not retried", async () => {
    reset();
    receiver.respond(() => ({ status: 403, body: "gate closed: waiting for approval from @release-team" }));
    const canary = target([{ name: "gate", type: "confirm-promotion", url: receiver.url, retries: 3 }]);
    const [result] = await runWebhooks(canary, "confirm-promotion", "WaitingPromotion");
    assert.deepEqual(result, {
      name: "gate",
      type: "confirm-promotion",
      verdict: "fail",
      statusCode: 403,
      message: "HTTP 403: gate closed: waiting for approval from @release-team",
    });
    assert.equal(receiver.requests.length, 1);
  });

  test("5xx answers are retried with a growing backoff until one passes", async () => {
    reset();
    const seen: number[] = [];
    receiver.respond((_request, index) => {
      seen.push(performance.now());
      return index < 2 ? { status: 503, body: "warming up" } : { status: 202, body: "accepted" };
    });
    const canary = target([{ name: "load", type: "rollout", url: receiver.url, retries: 3 }]);
    const [result] = await runWebhooks(canary, "rollout", "Progressing");
    assert.equal(result?.verdict, "pass");
    assert.equal(result?.statusCode, 202);
    assert.equal(result?.message, "HTTP 202: accepted (3 attempts)");
    const [first = 0, second = 0, third = 0] = seen;
    assert.ok(second - first >= 240, `first backoff ${second - first}ms`);
    assert.ok(third - second >= 490, `second backoff ${third - second}ms, doubled`);
  });

  test("when every retry fails the last answer is reported", async () => {
    reset();
    receiver.respond(() => ({ status: 500, body: "load test failed: p99 2.3s" }));
    const canary = target([{ name: "load", type: "rollout", url: receiver.url, retries: 2 }]);
    const [result] = await runWebhooks(canary, "rollout", "Progressing");
    assert.equal(receiver.requests.length, 3);
    assert.deepEqual(result, {
      name: "load",
      type: "rollout",
      verdict: "fail",
      statusCode: 500,
      message: "HTTP 500: load test failed: p99 2.3s (3 attempts)",
    });
  });

  test("a webhook slower than its timeout is an error after the timeout, retries included", async () => {
    reset();
    receiver.respond(() => ({ status: 200, delayMs: 10_000 }));
    const canary = target([
      { name: "slow", type: "pre-rollout", url: receiver.url, timeout: "300ms", retries: 1 },
    ]);
    const started = performance.now();
    const [result] = await runWebhooks(canary, "pre-rollout", "Progressing");
    const took = performance.now() - started;
    assert.deepEqual(result, {
      name: "slow",
      type: "pre-rollout",
      verdict: "error",
      statusCode: undefined,
      message: "no answer within 300ms (2 attempts)",
    });
    // At least two 300ms attempts and one 250ms backoff; far less than one 10s answer.
    assert.ok(took >= 600 && took < 5_000, `took ${took}ms`);
  });

  test("a slow webhook cannot hold a round past the round's deadline, whatever its timeout", async () => {
    reset();
    receiver.respond(() => ({ status: 200, delayMs: 10_000 }));
    const webhook: ResolvedWebhook = {
      name: "slow",
      type: "rollout",
      url: receiver.url,
      timeoutMs: 60_000,
      retries: 5,
      disableTLS: false,
      muteAlert: false,
      metadata: {},
      gateTimeoutMs: undefined,
    };
    const canary = target([]);
    const started = performance.now();
    const result = await callWebhook(webhook, webhookPayload(canary, "Progressing", webhook), {
      deadline: Date.now() + 500,
    });
    const took = performance.now() - started;
    assert.equal(result.verdict, "error");
    assert.equal(result.message, "no answer before the round's deadline (webhooks of one type share 4m)");
    assert.ok(took < 5_000, `took ${took}ms, not the webhook's 60s timeout`);
  });

  test("an unreachable webhook is an error that says so", async () => {
    const port = await freePort();
    const canary = target([{ name: "gone", type: "rollout", url: `http://127.0.0.1:${port}/`, retries: 1 }]);
    const [result] = await runWebhooks(canary, "rollout", "Progressing");
    assert.equal(result?.verdict, "error");
    assert.equal(result?.message, `cannot connect to 127.0.0.1:${port}: connection refused (2 attempts)`);
  });

  test("the body excerpt is bounded however much the webhook answers", async () => {
    reset();
    receiver.respond(() => ({ status: 400, body: `${"x".repeat(200)} ${"y".repeat(1_000_000)}` }));
    const canary = target([{ name: "chatty", type: "rollout", url: receiver.url }]);
    const [result] = await runWebhooks(canary, "rollout", "Progressing");
    assert.equal(result?.statusCode, 400);
    assert.ok((result?.message.length ?? 0) <= 320, `message of ${result?.message.length} characters`);
    assert.match(result?.message ?? "", /^HTTP 400: x{200} y+…$/);
  });

  test("checks and gates stop at the first webhook that does not pass; post-rollout runs them all", async () => {
    const hooks = (type: WebhookType) => [
      { name: "first", type, url: `${receiver.url}/first` },
      { name: "second", type, url: `${receiver.url}/second` },
    ];
    for (const [type, called] of [
      ["pre-rollout", ["/first"]],
      ["rollout", ["/first"]],
      ["confirm-rollout", ["/first"]],
      ["confirm-traffic-increase", ["/first"]],
      ["confirm-promotion", ["/first"]],
      ["post-rollout", ["/first", "/second"]],
      ["event", ["/first", "/second"]],
    ] as const) {
      reset();
      receiver.respond((request) => ({ status: request.url === "/first" ? 500 : 200 }));
      const results = await runWebhooks(target(hooks(type)), type, "Progressing");
      assert.deepEqual(
        receiver.requests.map((r) => r.url),
        called,
        type,
      );
      assert.equal(results.length, called.length, type);
    }
  });

  test("a rollback round stops at the first webhook that asks for the rollback", async () => {
    reset();
    receiver.respond((request) => ({ status: request.url === "/no" ? 404 : 200, body: "roll back" }));
    const canary = target([
      { name: "no", type: "rollback", url: `${receiver.url}/no` },
      { name: "yes", type: "rollback", url: `${receiver.url}/yes` },
      { name: "unasked", type: "rollback", url: `${receiver.url}/unasked` },
    ]);
    const results = await runWebhooks(canary, "rollback", "Progressing");
    assert.deepEqual(
      results.map((r) => [r.name, r.verdict]),
      [
        ["no", "fail"],
        ["yes", "pass"],
      ],
    );
  });
});

describe("webhooks over TLS", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver({ tls: true });
  });
  after(() => receiver.close());

  test("an untrusted certificate is an error naming TLS, not retried", async () => {
    const canary = target([{ name: "secure", type: "rollout", url: receiver.url, retries: 2 }]);
    const [result] = await runWebhooks(canary, "rollout", "Progressing");
    assert.equal(result?.verdict, "error");
    assert.match(
      result?.message ?? "",
      /^TLS handshake with 127\.0\.0\.1:\d+ failed \(\w+\): the server certificate is not trusted$/,
    );
    assert.equal(receiver.requests.length, 0);
  });

  test("disableTLS skips certificate verification", async () => {
    const canary = target([{ name: "secure", type: "rollout", url: receiver.url, disableTLS: true }]);
    const [result] = await runWebhooks(canary, "rollout", "Progressing");
    assert.equal(result?.verdict, "pass");
    assert.equal(receiver.requests.length, 1);
  });
});

describe("webhook idempotency keys", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());

  const info = (activityId: string, attempt: number) => ({
    activityId,
    attempt,
    workflowExecution: { workflowId: "canary/shop/podinfo", runId: "run-1" },
  });
  const keys = () => receiver.requests.map((r) => r.headers[IDEMPOTENCY_HEADER]);

  test("every attempt of one call carries the same key; the next call a new one", async () => {
    receiver.requests.length = 0;
    receiver.respond((_request, index) => (index === 0 ? { status: 503 } : { status: 200 }));
    const canary = target([{ name: "load", type: "rollout", url: receiver.url, retries: 1 }]);
    const call = (activityId: string, attempt: number) =>
      new MockActivityEnvironment(info(activityId, attempt)).run(() =>
        runWebhooks(canary, "rollout", "Progressing"),
      );

    await call("7", 1); // a 503, then a retry within the call
    await call("7", 2); // Temporal's retry of the same activity
    await call("8", 1); // the workflow's next call
    const [first, retried, temporalRetry, next] = keys();
    assert.equal(keys().length, 4);
    assert.match(String(first), /^[\w-]{32}$/);
    assert.equal(retried, first, "a retry within the call");
    assert.equal(temporalRetry, first, "Temporal's retry of the activity");
    assert.notEqual(next, first, "a new call");
  });

  test("webhooks of one round have keys of their own; outside a worker every call is new", async () => {
    receiver.requests.length = 0;
    receiver.respond(() => ({ status: 200 }));
    const canary = target([
      { name: "a", type: "post-rollout", url: receiver.url },
      { name: "b", type: "post-rollout", url: receiver.url },
    ]);
    await runWebhooks(canary, "post-rollout", "Succeeded");
    await runWebhooks(canary, "post-rollout", "Succeeded");
    assert.equal(new Set(keys()).size, 4);
  });
});

describe("webhook addresses", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
  });
  after(() => receiver.close());

  test("an address that is not an absolute http(s) URL is an error naming the webhook, never sent", async () => {
    for (const url of ["ftp://user:hunter2@files.test/x", "gate.test/approve?token=s3cret", "/relative"]) {
      const hook = resolved("gate", url, { retries: 3 });
      const result = await callWebhook(hook, webhookPayload(target([]), "Progressing", hook));
      assert.equal(result.verdict, "error", url);
      assert.match(result.message, /^the url of webhook "gate" ".*" is not an absolute http\(s\) URL/, url);
      assert.doesNotMatch(result.message, /hunter2|s3cret/);
    }
  });

  test("messages are redacted: userinfo, query and a hook path's token", async () => {
    receiver.requests.length = 0;
    receiver.respond((request) => ({ status: 500, body: `no hook at ${receiver.url}${request.url}` }));
    const url = `${receiver.url.replace("://", "://ci:pa55word@")}/hooks/T1/t0ken?key=k3y`;
    const hook = resolved("notify", url);
    const result = await callWebhook(hook, webhookPayload(target([]), "Progressing", hook));
    assert.equal(
      receiver.requests[0]?.url,
      "/hooks/T1/t0ken?key=k3y",
      "the request goes to the real address",
    );
    assert.equal(result.message, `HTTP 500: no hook at ${receiver.url}/hooks/***?***`);
  });
});

describe("deny local destinations", () => {
  let receiver: Receiver;
  let denying: RunWebhooks;
  before(async () => {
    receiver = await startReceiver();
    denying = createRunWebhooks({ config: { denyLocalDestinations: true } });
  });
  after(() => receiver.close());

  const option = "this operator denies loopback and link-local destinations (--deny-local-destinations)";

  test("a loopback literal, localhost and a link-local address are refused without a request", async () => {
    receiver.requests.length = 0;
    const port = new URL(receiver.url).port;
    const cases = [
      [receiver.url, `127.0.0.1 is a loopback address, and ${option}`],
      [`http://[::1]:${port}/`, `::1 is a loopback address, and ${option}`],
      [
        `http://localhost:${port}/`,
        /^localhost resolves to (127\.0\.0\.1|::1), a loopback address, and this/,
      ],
      ["http://169.254.169.254/latest/meta-data/", `169.254.169.254 is a link-local address, and ${option}`],
      ["http://[fe80::1]:8080/", `fe80::1 is a link-local address, and ${option}`],
    ] as const;
    for (const [url, message] of cases) {
      const started = performance.now();
      const [result] = await denying(
        target([{ name: "hook", type: "rollout", url, retries: 3 }]),
        "rollout",
        "Progressing",
      );
      assert.equal(result?.verdict, "error", url);
      assert.equal(result?.statusCode, undefined, url);
      if (typeof message === "string") assert.equal(result?.message, message, url);
      else assert.match(result?.message ?? "", message, url);
      assert.ok(performance.now() - started < 1_000, `${url}: refused at once, not retried`);
    }
    assert.equal(receiver.requests.length, 0);
  });

  test("other addresses still pass with the option on, over http and https", async (t) => {
    // An address of this machine that is neither loopback nor link-local, as a remote service's would be.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i?.family === "IPv4" && !i.internal && !i.address.startsWith("169.254."));
    if (external === undefined) {
      t.skip("this machine has no IPv4 address beside loopback");
      return;
    }
    const plain = await startReceiver({ host: external.address });
    const secure = await startReceiver({ host: external.address, tls: true });
    try {
      const results = await denying(
        target([
          { name: "plain", type: "post-rollout", url: `${plain.url}/hook` },
          { name: "secure", type: "post-rollout", url: `${secure.url}/hook`, disableTLS: true },
        ]),
        "post-rollout",
        "Succeeded",
      );
      assert.deepEqual(
        results.map((r) => [r.verdict, r.message]),
        [
          ["pass", "HTTP 200: ok"],
          ["pass", "HTTP 200: ok"],
        ],
      );
    } finally {
      await Promise.all([plain.close(), secure.close()]);
    }
  });

  test("the same webhook passes when the option is off", async () => {
    receiver.requests.length = 0;
    const port = new URL(receiver.url).port;
    const [result] = await runWebhooks(
      target([{ name: "hook", type: "rollout", url: `http://localhost:${port}/` }]),
      "rollout",
      "Progressing",
    );
    assert.equal(result?.verdict, "pass");
  });
});

describe("proxies from the environment", () => {
  let receiver: Receiver;
  let tlsReceiver: Receiver;
  before(async () => {
    receiver = await startReceiver();
    tlsReceiver = await startReceiver({ tls: true });
  });
  after(async () => {
    await Promise.all([receiver.close(), tlsReceiver.close()]);
  });

  /** A name only the test proxy knows: it connects every destination to 127.0.0.1. */
  const via = (base: string, host: string) => {
    const url = new URL(base);
    url.hostname = host;
    return url.toString();
  };

  test("HTTP_PROXY carries http webhooks, https_proxy tunnels https ones, NO_PROXY bypasses both", async () => {
    const proxy = await startForwardProxy({ connectTo: "127.0.0.1" });
    try {
      const plain = via(receiver.url, "hooks.proxy-only.test");
      const secure = via(tlsReceiver.url, "secure.proxy-only.test");
      const canary = target([
        { name: "plain", type: "post-rollout", url: plain },
        { name: "secure", type: "post-rollout", url: secure, disableTLS: true },
      ]);
      const proxied = await withProxyEnv({ HTTP_PROXY: proxy.url, https_proxy: proxy.url }, () =>
        runWebhooks(canary, "post-rollout", "Succeeded"),
      );
      assert.deepEqual(
        proxied.map((r) => r.verdict),
        ["pass", "pass"],
      );
      assert.deepEqual(proxy.forwarded, [plain]);
      assert.deepEqual(proxy.tunnels, [new URL(secure).host]);

      const bypassed = await withProxyEnv(
        { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: "proxy-only.test" },
        () => runWebhooks(canary, "post-rollout", "Succeeded"),
      );
      assert.deepEqual(
        bypassed.map((r) => r.message),
        ["cannot resolve host hooks.proxy-only.test", "cannot resolve host secure.proxy-only.test"],
        "sent directly, where the names do not resolve",
      );
      assert.equal(proxy.forwarded.length, 1);
      assert.equal(proxy.tunnels.length, 1);
    } finally {
      await proxy.close();
    }
  });

  test("with the deny option, a local destination is refused before it reaches the proxy", async () => {
    const proxy = await startForwardProxy();
    try {
      const denying = createRunWebhooks({ config: { denyLocalDestinations: true } });
      const results = await withProxyEnv({ HTTP_PROXY: proxy.url }, () =>
        denying(
          target([
            // Proxied (not loopback); the proxy would reach the metadata endpoint of its own host.
            { name: "metadata", type: "post-rollout", url: "http://169.254.169.254/latest/meta-data/" },
            // Never proxied, as in Go: refused by the direct connection's check.
            { name: "loopback", type: "post-rollout", url: via(receiver.url, "localhost") },
          ]),
          "post-rollout",
          "Succeeded",
        ),
      );
      const [metadata, loopback] = results.map((r) => r.message);
      assert.match(metadata ?? "", /^169\.254\.169\.254 is a link-local address, and this operator denies/);
      assert.match(loopback ?? "", /^localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
      assert.deepEqual(proxy.forwarded, []);
    } finally {
      await proxy.close();
    }
  });
});
