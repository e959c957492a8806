import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { redact, redactUrl } from "../../src/net/redact.ts";

describe("redact", () => {
  for (const [what, url, shown] of [
    [
      "Slack incoming webhook path",
      "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX",
      "https://hooks.slack.com/services/***",
    ],
    [
      "Teams webhook path",
      "https://contoso.webhook.office.com/webhookb2/1234@5678/IncomingWebhook/abcd/ef01",
      "https://contoso.webhook.office.com/webhookb2/***",
    ],
    [
      "Teams Workflows signature",
      "https://prod-1.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s3cret",
      "https://prod-1.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?***",
    ],
    [
      "Discord webhook token",
      "https://discord.com/api/webhooks/123456/tok-en_secret",
      "https://discord.com/api/webhooks/***",
    ],
    [
      "Google Chat key and token",
      "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=AIza&token=abc%3D",
      "https://chat.googleapis.com/v1/spaces/AAAA/messages?***",
    ],
    [
      "Rocket.Chat hook path",
      "https://rocket.example.com/hooks/abc/def",
      "https://rocket.example.com/hooks/***",
    ],
    [
      "userinfo",
      "http://admin:pa55@prometheus.monitoring:9090/api",
      "http://***@prometheus.monitoring:9090/api",
    ],
    ["a fragment", "https://example.com/cb#access_token=x", "https://example.com/cb#***"],
    ["a plain address, unchanged", "http://flagger-loadtester.test/", "http://flagger-loadtester.test/"],
    ["an IPv6 address, unchanged", "http://[::1]:8080/gate/check", "http://[::1]:8080/gate/check"],
  ] as const) {
    test(what, () => {
      assert.equal(redactUrl(url), shown);
      assert.equal(redact(`cannot reach ${url}: refused`), `cannot reach ${shown}: refused`);
    });
  }

  test("every URL in a text, in quotes and before punctuation", () => {
    assert.equal(
      redact(
        'slack hook "https://hooks.slack.com/services/T/B/C" failed, then https://u:p@h.test/x?y=1. Done',
      ),
      'slack hook "https://hooks.slack.com/services/***" failed, then https://***@h.test/x?***. Done',
    );
  });

  test("text without URLs is unchanged, PromQL included", () => {
    const text = 'no values found for query sum(rate(x{code!~"5.."}[1m])) at 10:30';
    assert.equal(redact(text), text);
  });
});
