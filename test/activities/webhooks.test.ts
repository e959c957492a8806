/**
 * The runWebhooks activity against real local HTTP(S) servers: every webhook type's payload,
 * 2xx and non-2xx answers, timeouts, retries with backoff, disableTLS, bounded excerpts, the order
 * and stopping rules of a round, and a slow webhook that cannot hold a round past its budget.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { callWebhook, createRunWebhooks, webhookPayload } from "../../activities/webhooks.ts";
import { WEBHOOK_TYPES, type WebhookType } from "../../src/api/canary.ts";
import type { ResolvedWebhook } from "../../src/api/defaults.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { freePort } from "../harness/process.ts";
import { spec } from "../unit/helpers/specs.ts";
import { type Receiver, startReceiver } from "./webhooks-servers.ts";

const runWebhooks = createRunWebhooks({ config: { denyLocalDestinations: false } });

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
    const result = await callWebhook(
      webhook,
      webhookPayload(canary, "Progressing", webhook),
      { deadline: Date.now() + 500 },
    );
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
