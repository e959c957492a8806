import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { webhookPayload } from "../../activities/webhooks.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { spec } from "./helpers/specs.ts";

const target: Target = {
  ref: { namespace: "test", name: "podinfo" },
  spec: spec({ stepWeight: 10 }),
  revision: "7d9f",
};

describe("webhookPayload", () => {
  test("Flagger's shape: name, namespace, phase, checksum and the webhook's metadata", () => {
    assert.deepEqual(webhookPayload(target, "Progressing", { metadata: { cmd: "hey -z 1m" } }), {
      name: "podinfo",
      namespace: "test",
      phase: "Progressing",
      checksum: "7d9f",
      metadata: { cmd: "hey -z 1m" },
    });
  });

  test("an event webhook also gets the event's message, type and time in milliseconds", () => {
    const payload = webhookPayload(
      target,
      "Failed",
      { metadata: { team: "a" } },
      { type: "Warning", reason: "Failed", message: "Canary failed" },
      1_700_000_000_123,
    );
    assert.deepEqual(payload.metadata, {
      team: "a",
      eventMessage: "Canary failed",
      eventType: "Warning",
      timestamp: "1700000000123",
    });
  });

  test("without a revision the checksum is empty", () => {
    assert.equal(
      webhookPayload({ ...target, revision: undefined }, "Initialized", { metadata: {} }).checksum,
      "",
    );
  });
});
