import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { alertFormats } from "../../activities/alerts/index.ts";
import { alertMessage, receives } from "../../activities/alerts/message.ts";
import type { AlertSeverity } from "../../src/api/canary.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { spec } from "./helpers/specs.ts";

const target: Target = {
  ref: { namespace: "test", name: "podinfo" },
  spec: spec({ stepWeight: 10 }),
  revision: "7d9f",
};
const message = alertMessage(
  target,
  { severity: "error", phase: "Failed", message: "Rolled back: request-success-rate 93.10% < 99%" },
  "eu-1",
);
const destination = { channel: "#deploys", username: "canary-bot" };

describe("alertMessage", () => {
  test("titles like Flagger and lists the facts people ask for first", () => {
    assert.equal(message.title, "podinfo.test");
    assert.deepEqual(message.facts, [
      { name: "Phase", value: "Failed" },
      { name: "Target", value: "Deployment/podinfo" },
      { name: "Revision", value: "7d9f" },
      { name: "Cluster", value: "eu-1" },
    ]);
  });
});

describe("receives", () => {
  const table: [AlertSeverity, AlertSeverity, boolean][] = [
    ["info", "info", true],
    ["info", "warn", true],
    ["info", "error", true],
    ["warn", "info", false],
    ["warn", "warn", true],
    ["warn", "error", true],
    ["error", "info", false],
    ["error", "warn", false],
    ["error", "error", true],
  ];
  for (const [subscribed, raised, expected] of table) {
    test(`${subscribed} ${expected ? "receives" : "does not receive"} ${raised}`, () =>
      assert.equal(receives(subscribed, raised), expected));
  }
});

describe("native formats", () => {
  test("slack: channel, username and a red attachment with short fields", () => {
    const body = alertFormats.slack(message, destination) as Record<string, unknown>;
    assert.equal(body.channel, "#deploys");
    assert.equal(body.username, "canary-bot");
    const [attachment] = body.attachments as Record<string, unknown>[];
    assert.equal(attachment?.color, "#a30200");
    assert.equal(attachment?.text, "Rolled back: request-success-rate 93.10% < 99%");
    assert.deepEqual((attachment?.fields as unknown[] | undefined)?.[0], {
      title: "Phase",
      value: "Failed",
      short: true,
    });
  });

  test("rocket: alias for the username, attachments with fields", () => {
    const body = alertFormats.rocket(message, destination) as Record<string, unknown>;
    assert.equal(body.alias, "canary-bot");
    assert.equal(body.channel, "#deploys");
    assert.equal((body.attachments as Record<string, unknown>[])[0]?.title, "podinfo.test");
  });

  test("discord: an embed with an integer colour and inline fields; no channel", () => {
    const body = alertFormats.discord(message, destination) as Record<string, unknown>;
    assert.equal(body.channel, undefined);
    assert.equal(body.username, "canary-bot");
    const [embed] = body.embeds as Record<string, unknown>[];
    assert.equal(embed?.color, 0xa30200);
    assert.deepEqual((embed?.fields as unknown[] | undefined)?.[1], {
      name: "Target",
      value: "Deployment/podinfo",
      inline: true,
    });
  });

  test("msteams: an Adaptive Card with a fact set", () => {
    const body = alertFormats.msteams(message, destination) as {
      type: string;
      attachments: { contentType: string; content: { type: string; body: Record<string, unknown>[] } }[];
    };
    assert.equal(body.type, "message");
    const [attachment] = body.attachments;
    assert.equal(attachment?.contentType, "application/vnd.microsoft.card.adaptive");
    assert.equal(attachment?.content.type, "AdaptiveCard");
    assert.equal(attachment?.content.body[0]?.color, "Attention");
    assert.deepEqual(attachment?.content.body[2], {
      type: "FactSet",
      facts: message.facts.map((f) => ({ title: f.name, value: f.value })),
    });
  });

  test("gchat: text for notifications and a card with the facts", () => {
    const body = alertFormats.gchat(message, destination) as {
      text: string;
      cardsV2: { card: { header: { title: string }; sections: { widgets: unknown[] }[] } }[];
    };
    assert.equal(body.text, "*podinfo.test* Rolled back: request-success-rate 93.10% < 99%");
    assert.equal(body.cardsV2[0]?.card.header.title, "podinfo.test");
    assert.equal(body.cardsV2[0]?.card.sections[0]?.widgets.length, 1 + message.facts.length);
  });
});
