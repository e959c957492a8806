import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OperatorConfigError, parseOperatorConfig } from "../../src/config/operator.ts";

describe("parseOperatorConfig", () => {
  test("defaults match a Flagger install", () => {
    assert.deepEqual(parseOperatorConfig(), {
      meshProvider: "istio",
      selectorLabels: ["app", "name", "app.kubernetes.io/name"],
      includeLabelPrefixes: [],
      configTracking: true,
      eventWebhook: undefined,
      crossNamespaceRefs: true,
      denyLocalDestinations: false,
      metricsServer: "http://prometheus:9090",
      metricsQueryTimeoutMs: 10_000,
      clusterName: undefined,
      globalAlertProvider: undefined,
    });
  });

  test("local destinations are denied by default with the embedded Temporal server only; the file decides", () => {
    const embedded = { embeddedTemporal: true };
    const remote = { embeddedTemporal: false };
    assert.equal(parseOperatorConfig({}, embedded).denyLocalDestinations, true);
    assert.equal(parseOperatorConfig({}, remote).denyLocalDestinations, false);
    assert.equal(
      parseOperatorConfig({ denyLocalDestinations: false }, embedded).denyLocalDestinations,
      false,
    );
    assert.equal(parseOperatorConfig({ denyLocalDestinations: true }, remote).denyLocalDestinations, true);
    assert.throws(
      () => parseOperatorConfig({ denyLocalDestinations: "yes" }),
      /denyLocalDestinations Invalid input: expected boolean/,
    );
  });

  test("a global alert provider defaults to receiving every severity", () => {
    const config = parseOperatorConfig({
      globalAlertProvider: {
        type: "slack",
        secretRef: { namespace: "ops", name: "slack" },
        channel: "#deploys",
      },
    });
    assert.equal(config.globalAlertProvider?.severity, "info");
    assert.deepEqual(config.globalAlertProvider?.secretRef, { namespace: "ops", name: "slack" });
  });

  test("errors name each bad field", () => {
    assert.throws(
      () =>
        parseOperatorConfig({
          metricsServer: "prometheus:9090",
          metricsQueryTimeout: "ten seconds",
          globalAlertProvider: { type: "pager" },
        }),
      (error: unknown) => {
        assert.ok(error instanceof OperatorConfigError);
        assert.match(error.message, /metricsServer must be an http\(s\) URL/);
        assert.match(error.message, /metricsQueryTimeout must be a duration such as "10s"/);
        assert.match(error.message, /globalAlertProvider\.type/);
        return true;
      },
    );
  });

  test("a global alert provider needs an address or a secret", () => {
    assert.throws(
      () => parseOperatorConfig({ globalAlertProvider: { type: "msteams" } }),
      /globalAlertProvider needs address, or secretRef/,
    );
  });
});
