import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { routerFor } from "../../activities/routing/registry.ts";
import { PROVIDERS } from "../../src/api/canary.ts";
import { applyDefaults, DEFAULTS, serviceNames } from "../../src/api/defaults.ts";
import {
  fieldPath,
  validateAlertProvider,
  validateCanary,
  validateMetricTemplate,
} from "../../src/api/validate.ts";
import { rawSpec, webhook } from "./helpers/specs.ts";

function errorsOf(input: unknown): readonly string[] {
  const result = validateCanary(input);
  assert.equal(result.ok, false, "expected the spec to be invalid");
  return result.ok ? [] : result.errors;
}

function warningsOf(input: unknown): readonly string[] {
  const result = validateCanary(input);
  assert.ok(result.ok, `expected a valid spec, got: ${result.ok ? "" : result.errors.join("; ")}`);
  return result.warnings;
}

describe("validateCanary: field errors name the path and the fix", () => {
  const cases: [string, unknown, string][] = [
    ["not an object", "nope", "spec must be an object, got nope"],
    [
      "stepWeight below 0",
      rawSpec({ stepWeight: -1 }),
      "analysis.stepWeight must be an integer between 0 and 100, got -1",
    ],
    [
      "StatefulSet target",
      {
        ...rawSpec({ stepWeight: 10 }),
        targetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: "db" },
      },
      "targetRef.kind must be one of Deployment, DaemonSet, Service, got StatefulSet",
    ],
    ["missing targetRef", { service: { port: 80 }, analysis: { stepWeight: 5 } }, "targetRef is required"],
    [
      "missing port",
      { ...rawSpec({ stepWeight: 10 }), service: {} },
      "service.port is required: an integer between 1 and 65535",
    ],
    [
      "port as a string",
      { ...rawSpec({ stepWeight: 10 }), service: { port: "80" } },
      'service.port must be an integer between 1 and 65535, got "80"',
    ],
    [
      "bad targetPort",
      { ...rawSpec({ stepWeight: 10 }), service: { port: 80, targetPort: true } },
      "service.targetPort must be a port number (1-65535) or a container port name, got true",
    ],
    [
      "service name not a DNS label",
      { ...rawSpec({ stepWeight: 10 }), service: { port: 80, name: "Pod_Info" } },
      "service.name must be a DNS-1035 label",
    ],
    [
      "interval without unit",
      rawSpec({ interval: "10", stepWeight: 10 }),
      'analysis.interval must be a duration such as "1m" or "30s" (missing unit after 10; units: ns, us, ms, s, m, h), got "10"',
    ],
    [
      "negative interval",
      rawSpec({ interval: "-50ms", stepWeight: 10 }),
      'analysis.interval must be at least 0s, got "-50ms"',
    ],
    [
      "fractional threshold",
      rawSpec({ threshold: 1.5, stepWeight: 10 }),
      "analysis.threshold must be an integer between 0 and 1000, got 1.5",
    ],
    [
      "empty stepWeights",
      rawSpec({ stepWeights: [] }),
      "analysis.stepWeights must be a non-empty list of weights, got []",
    ],
    [
      "stepWeights above 100",
      rawSpec({ stepWeights: [50, 120] }),
      "analysis.stepWeights[1] must be an integer between 1 and 100, got 120",
    ],
    [
      "unknown provider",
      rawSpec({ stepWeight: 10 }, { provider: "envoy" }),
      "provider must be one of apisix, appmesh",
    ],
    [
      "alert severity",
      rawSpec({ stepWeight: 10, alerts: [{ name: "a", severity: "fatal", providerRef: { name: "slack" } }] }),
      "analysis.alerts[0].severity must be one of info, warn, error, got fatal",
    ],
    [
      "metric interval for PromQL",
      rawSpec({
        stepWeight: 10,
        metrics: [{ name: "request-duration", interval: "1.5m", thresholdRange: { max: 500 } }],
      }),
      'analysis.metrics[0].interval must be a Prometheus duration such as "1m" or "30s" (whole numbers with units y, w, d, h, m, s or ms, largest first), got "1.5m"',
    ],
    [
      "webhook type",
      rawSpec({ stepWeight: 10, webhooks: [webhook("w", "bogus")] }),
      "analysis.webhooks[0].type must be one of confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event, got bogus",
    ],
    [
      "webhook url",
      rawSpec({ stepWeight: 10, webhooks: [{ name: "w", url: "ftp://hooks.test/" }] }),
      'analysis.webhooks[0].url must be an absolute http(s) URL such as "http://loadtester.test/", got ftp://hooks.test/',
    ],
    [
      "webhook url that does not parse",
      rawSpec({ stepWeight: 10, webhooks: [{ name: "w", url: "not a url" }] }),
      'analysis.webhooks[0].url must be an absolute http(s) URL such as "http://loadtester.test/", got "not a url"',
    ],
    [
      "webhook timeout",
      rawSpec({ stepWeight: 10, webhooks: [webhook("w", "rollout", { timeout: "5x" })] }),
      'analysis.webhooks[0].timeout must be a duration such as "10s" (unknown unit "x"',
    ],
    [
      "metadata values must be strings",
      rawSpec({
        stepWeight: 10,
        webhooks: [webhook("w", "rollout", { metadata: { "app.kubernetes.io/name": 1 } })],
      }),
      'analysis.webhooks[0].metadata["app.kubernetes.io/name"] must be a string, got 1',
    ],
    [
      "istio match with two operators",
      rawSpec({ iterations: 2, match: [{ headers: { user: { exact: "a", prefix: "b" } } }] }),
      'analysis.match[0].headers.user must be an object with at most one of exact, prefix, suffix or regex, got {"exact":"a","prefix":"b"}',
    ],
    [
      "match headers neither a map nor a list",
      rawSpec({ iterations: 2, match: [{ headers: "x-user" }] }),
      "analysis.match[0].headers must be a map of name to {exact|prefix|suffix|regex} (Istio style) or a list of {name, value, type} (Gateway API style), got x-user",
    ],
    [
      "gate timeout",
      rawSpec({ stepWeight: 10, gateTimeout: "soon" }),
      'analysis.gateTimeout must be a duration such as "30m"',
    ],
    [
      "long values are shortened",
      { ...rawSpec({ stepWeight: 10 }), service: { port: 80, targetPort: { a: "x".repeat(100) } } },
      "...",
    ],
  ];
  for (const [title, input, expected] of cases) {
    test(title, () => {
      const errors = errorsOf(input);
      assert.ok(
        errors.some((error) => error.startsWith(expected) || (expected === "..." && error.endsWith("..."))),
        `expected an error starting with ${JSON.stringify(expected)}, got:\n${errors.join("\n")}`,
      );
    });
  }
});

describe("validateCanary: cross-field checks", () => {
  const cases: [string, unknown, string][] = [
    [
      "no strategy",
      rawSpec({}),
      "analysis needs analysis.stepWeight or analysis.stepWeights (canary) or analysis.iterations",
    ],
    [
      "stepWeights not increasing",
      rawSpec({ stepWeights: [10, 30, 30, 50] }),
      "analysis.stepWeights must be strictly increasing, got [10, 30, 30, 50]",
    ],
    [
      "DaemonSet with autoscaler",
      rawSpec(
        { stepWeight: 10 },
        {
          targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" },
          autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "agent" },
        },
      ),
      "autoscalerRef cannot be used with a DaemonSet target",
    ],
    [
      "primary scaler replicas inverted",
      rawSpec(
        { stepWeight: 10 },
        {
          autoscalerRef: {
            apiVersion: "autoscaling/v2",
            kind: "HorizontalPodAutoscaler",
            name: "podinfo",
            primaryScalerReplicas: { minReplicas: 5, maxReplicas: 2 },
          },
        },
      ),
      "autoscalerRef.primaryScalerReplicas.minReplicas (5) must not exceed maxReplicas (2)",
    ],
    [
      "duplicate metric",
      rawSpec({
        stepWeight: 10,
        metrics: [
          { name: "request-duration", thresholdRange: { max: 1 } },
          { name: "request-duration", thresholdRange: { max: 2 } },
        ],
      }),
      "analysis.metrics[1].name must be unique, got request-duration twice",
    ],
    [
      "custom metric without template",
      rawSpec({ stepWeight: 10, metrics: [{ name: "errors", thresholdRange: { max: 1 } }] }),
      "analysis.metrics[0] (errors) needs a templateRef naming a MetricTemplate",
    ],
    [
      "inverted threshold range",
      rawSpec({
        stepWeight: 10,
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99, max: 90 } }],
      }),
      "analysis.metrics[0].thresholdRange.min (99) must not exceed max (90)",
    ],
    [
      "duplicate webhook",
      rawSpec({
        stepWeight: 10,
        webhooks: [webhook("load", "rollout"), { name: "load", url: "http://a.test/" }],
      }),
      "analysis.webhooks[1].name must be unique among rollout webhooks, got load twice",
    ],
    [
      "gateTimeout on a non-gate webhook",
      rawSpec({ stepWeight: 10, webhooks: [webhook("load", "pre-rollout", { gateTimeout: "1m" })] }),
      "analysis.webhooks[0].gateTimeout applies only to gate webhooks (confirm-rollout, confirm-traffic-increase, confirm-promotion), not pre-rollout: remove it",
    ],
  ];
  for (const [title, input, expected] of cases) {
    test(title, () => {
      const errors = errorsOf(input);
      assert.ok(
        errors.some((error) => error.startsWith(expected)),
        `expected an error starting with ${JSON.stringify(expected)}, got:\n${errors.join("\n")}`,
      );
    });
  }

  test("skipAnalysis needs no strategy fields", () => {
    assert.deepEqual(warningsOf(rawSpec({}, { skipAnalysis: true })), []);
  });
});

describe("validateCanary: warnings for accepted but inert fields", () => {
  const cases: [string, unknown, string][] = [
    [
      "deprecated canaryAnalysis",
      { ...rawSpec({}), analysis: undefined, canaryAnalysis: { stepWeight: 10 } },
      "canaryAnalysis is deprecated: rename it to analysis",
    ],
    [
      "both analysis fields",
      { ...rawSpec({ stepWeight: 10 }), canaryAnalysis: { stepWeight: 5 } },
      "canaryAnalysis is ignored because analysis is set",
    ],
    [
      "maxWeight beside stepWeights",
      rawSpec({ stepWeights: [10, 40], maxWeight: 50 }),
      "analysis.maxWeight (50) is ignored when analysis.stepWeights is set; the canary stops at the last step (40)",
    ],
    [
      "maxWeight with iterations",
      rawSpec({ iterations: 3, maxWeight: 50 }),
      "analysis.maxWeight has no effect with analysis.iterations",
    ],
    [
      "match without iterations",
      rawSpec({ stepWeight: 10, match: [{ headers: { user: { exact: "qa" } } }] }),
      "analysis.match only takes effect with analysis.iterations",
    ],
    [
      "mirror with A/B",
      rawSpec({ iterations: 3, mirror: true, match: [{ headers: { user: { exact: "qa" } } }] }),
      "analysis.mirror has no effect with A/B testing",
    ],
    [
      "mirrorWeight without mirror",
      rawSpec({ iterations: 3, mirrorWeight: 50 }),
      "analysis.mirrorWeight has no effect without analysis.mirror: true",
    ],
    [
      "deprecated metric threshold (min)",
      rawSpec({ stepWeight: 10, metrics: [{ name: "request-success-rate", threshold: 99 }] }),
      "analysis.metrics[0].threshold is deprecated: use thresholdRange.min",
    ],
    [
      "deprecated metric threshold (max)",
      rawSpec({ stepWeight: 10, metrics: [{ name: "request-duration", threshold: 500 }] }),
      "analysis.metrics[0].threshold is deprecated: use thresholdRange.max",
    ],
    [
      "threshold beside thresholdRange",
      rawSpec({
        stepWeight: 10,
        metrics: [{ name: "request-duration", threshold: 500, thresholdRange: { max: 400 } }],
      }),
      "analysis.metrics[0].threshold is ignored because thresholdRange is set",
    ],
    [
      "inline query",
      rawSpec({ stepWeight: 10, metrics: [{ name: "errors", query: "sum(x)", thresholdRange: { max: 1 } }] }),
      "analysis.metrics[0].query is deprecated",
    ],
    [
      "kubernetes provider, one inert field",
      rawSpec({ iterations: 5, mirror: true }, { provider: "kubernetes" }),
      "the kubernetes provider supports blue/green only, so analysis.mirror has no effect: remove it",
    ],
    [
      "kubernetes provider, several inert fields",
      rawSpec(
        {
          stepWeights: [5],
          maxWeight: 50,
          match: [{ headers: [{ name: "x", value: "y" }] }],
        },
        { provider: "kubernetes" },
      ),
      "the kubernetes provider supports blue/green only, so analysis.stepWeights, analysis.maxWeight, analysis.match have no effect: remove them",
    ],
    [
      "kubernetes provider ignores stepWeight",
      rawSpec({ stepWeight: 10, iterations: 4 }, { provider: "kubernetes" }),
      "the kubernetes provider supports blue/green only, so analysis.stepWeight has no effect: remove it",
    ],
    [
      "a field only App Mesh reads",
      rawSpec({ stepWeight: 10 }, { service: { port: 80, meshName: "global" } }),
      "service.meshName is read by provider appmesh only, so it has no effect with provider istio: remove it",
    ],
    [
      "an ingressRef the provider does not read",
      rawSpec(
        { stepWeight: 10 },
        { ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "web" } },
      ),
      "ingressRef is read by provider nginx and skipper only, so it has no effect with provider istio: remove it",
    ],
    [
      "kubernetes provider without iterations",
      rawSpec({}, { provider: "kubernetes" }),
      "the kubernetes provider supports blue/green only: analysis.iterations defaults to 10",
    ],
  ];
  for (const [title, input, expected] of cases) {
    test(title, () => {
      const result = validateCanary(input);
      const messages = result.ok ? result.warnings : result.errors;
      assert.ok(
        messages.some((message) => message.startsWith(expected)),
        `expected a message starting with ${JSON.stringify(expected)}, got:\n${messages.join("\n")}`,
      );
    });
  }

  test("the operator's default provider counts when the Canary names none", () => {
    const result = validateCanary(rawSpec({ iterations: 2, mirror: true }), {
      defaultProvider: "kubernetes",
    });
    assert.ok(result.ok);
    assert.equal(result.spec.provider, "kubernetes");
    assert.equal(result.spec.strategy.kind, "blue-green");
    assert.equal(result.spec.analysis.mirror, false);
    assert.match(result.warnings.join("\n"), /analysis\.mirror has no effect/);
  });
});

describe("applyDefaults", () => {
  test("a minimal canary gets Flagger's defaults", () => {
    const result = validateCanary(rawSpec({ interval: undefined, stepWeight: 10 }));
    assert.ok(result.ok);
    const { spec } = result;
    assert.equal(spec.provider, DEFAULTS.provider);
    assert.deepEqual(spec.strategy, { kind: "canary", mirror: false });
    assert.equal(spec.progressDeadlineSeconds, 600);
    assert.equal(spec.skipAnalysis, false);
    assert.equal(spec.suspend, false);
    assert.equal(spec.revertOnDeletion, false);
    assert.deepEqual(
      { name: spec.service.name, portName: spec.service.portName, targetPort: spec.service.targetPort },
      { name: "podinfo", portName: "http", targetPort: 9898 },
    );
    assert.equal(spec.service.portDiscovery, false);
    assert.equal(spec.service.headless, false);
    const { analysis } = spec;
    assert.equal(analysis.intervalMs, 60_000);
    assert.equal(analysis.threshold, 1);
    assert.equal(analysis.maxWeight, 100);
    assert.equal(analysis.stepWeight, 10);
    assert.deepEqual(analysis.stepWeights, []);
    assert.equal(analysis.stepWeightPromotion, undefined);
    assert.equal(analysis.iterations, 0);
    assert.equal(analysis.primaryReadyThreshold, 100);
    assert.equal(analysis.canaryReadyThreshold, 100);
    assert.equal(analysis.gateTimeoutMs, undefined);
  });

  test("the last of stepWeights is the max weight", () => {
    const result = validateCanary(rawSpec({ stepWeights: [5, 10, 40] }));
    assert.ok(result.ok);
    assert.equal(result.spec.analysis.maxWeight, 40);
  });

  test("metrics, webhooks and alerts are filled in", () => {
    const result = validateCanary(
      rawSpec({
        stepWeight: 10,
        gateTimeout: "30m",
        metrics: [
          { name: "request-success-rate", threshold: 99 },
          { name: "request-duration", threshold: 500, interval: "30s" },
          {
            name: "errors",
            templateRef: { name: "errors", namespace: "ops" },
            threshold: 3,
            templateVariables: { a: "b" },
          },
        ],
        webhooks: [
          { name: "load", url: "http://hooks.test/load", type: "" },
          webhook("gate", "confirm-promotion", {
            timeout: "3s",
            retries: 2,
            muteAlert: true,
            disableTLS: true,
            metadata: { a: "b" },
            gateTimeout: "5m",
          }),
        ],
        alerts: [
          { name: "on-call", providerRef: { name: "slack" } },
          { name: "errors", severity: "error", providerRef: { name: "teams", namespace: "ops" } },
        ],
      }),
    );
    assert.ok(result.ok);
    const { metrics, webhooks, alerts, gateTimeoutMs } = result.spec.analysis;
    assert.equal(gateTimeoutMs, 1_800_000);
    assert.deepEqual(
      metrics.map((m) => [m.name, m.builtin, m.interval, m.thresholdRange]),
      [
        ["request-success-rate", "request-success-rate", "1m", { min: 99 }],
        ["request-duration", "request-duration", "30s", { max: 500 }],
        ["errors", undefined, "1m", { max: 3 }],
      ],
    );
    assert.deepEqual(metrics[2]?.templateVariables, { a: "b" });
    assert.deepEqual(metrics[0]?.templateVariables, {});
    assert.deepEqual(webhooks[0], {
      name: "load",
      type: "rollout",
      url: "http://hooks.test/load",
      timeoutMs: 10_000,
      retries: 0,
      disableTLS: false,
      muteAlert: false,
      metadata: {},
      gateTimeoutMs: undefined,
    });
    assert.deepEqual(webhooks[1], {
      name: "gate",
      type: "confirm-promotion",
      url: "http://hooks.test/gate",
      timeoutMs: 3000,
      retries: 2,
      disableTLS: true,
      muteAlert: true,
      metadata: { a: "b" },
      gateTimeoutMs: 300_000,
    });
    assert.deepEqual(
      alerts.map((a) => a.severity),
      ["info", "error"],
    );
  });

  test("strategy selection follows the analysis", () => {
    const strategyOf = (analysis: Record<string, unknown>) => {
      const result = validateCanary(rawSpec(analysis));
      assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
      return result.spec.strategy;
    };
    const match = [{ headers: { user: { exact: "qa" } } }];
    assert.deepEqual(strategyOf({ iterations: 5, match }), { kind: "ab-testing", mirror: false });
    assert.deepEqual(strategyOf({ iterations: 5, mirror: true }), { kind: "blue-green", mirror: true });
    assert.deepEqual(strategyOf({ stepWeight: 10, mirror: true }), { kind: "canary", mirror: true });
  });

  test("a canary without analysis is promoted without one, as in Flagger", () => {
    const spec = applyDefaults({
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "a" },
      service: { port: 80 },
    });
    assert.equal(spec.skipAnalysis, true);
    assert.equal(spec.analysis.intervalMs, 60_000);
  });

  test("kubernetes provider runs blue/green with 10 iterations and no match", () => {
    const result = validateCanary(
      rawSpec({ match: [{ headers: { a: { exact: "b" } } }] }, { provider: "kubernetes" }),
    );
    assert.ok(result.ok);
    assert.equal(result.spec.analysis.iterations, 10);
    assert.deepEqual(result.spec.analysis.match, []);
    assert.equal(result.spec.strategy.kind, "blue-green");
  });

  test("routing objects keep keys the schema does not know", () => {
    const result = validateCanary({
      ...rawSpec({
        iterations: 2,
        match: [{ headers: { user: { exact: "qa" } }, sourceNamespace: "x", custom: 1 }],
      }),
      service: { port: 80, trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } }, retries: { attempts: 3 } },
    });
    assert.ok(result.ok);
    assert.deepEqual(result.spec.service.trafficPolicy, { tls: { mode: "ISTIO_MUTUAL" } });
    assert.deepEqual(result.spec.analysis.match[0], {
      headers: { user: { exact: "qa" } },
      sourceNamespace: "x",
      custom: 1,
    });
  });

  test("Gateway API matches are accepted", () => {
    const result = validateCanary(
      rawSpec({
        iterations: 2,
        match: [
          {
            headers: [{ name: "x-canary", value: "insider", type: "Exact" }],
            queryParams: [{ name: "beta", value: "1" }],
            path: { type: "PathPrefix", value: "/api" },
            method: "GET",
          },
        ],
      }),
    );
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    assert.equal(result.spec.strategy.kind, "ab-testing");
  });

  test("serviceNames derives primary and canary from the apex", () => {
    const target = { apiVersion: "apps/v1", kind: "Deployment" as const, name: "podinfo" };
    assert.deepEqual(serviceNames({ targetRef: target, service: { port: 80 } }), {
      apex: "podinfo",
      primary: "podinfo-primary",
      canary: "podinfo-canary",
    });
    assert.equal(
      serviceNames({ targetRef: target, service: { port: 80, name: "web" } }).canary,
      "web-canary",
    );
  });
});

describe("validateMetricTemplate and validateAlertProvider", () => {
  test("a MetricTemplate needs a provider type and a query", () => {
    const ok = validateMetricTemplate({
      provider: { type: "prometheus", address: "http://prometheus:9090" },
      query: "up",
    });
    assert.ok(ok.ok);
    const bad = validateMetricTemplate({ provider: { type: "graphite2" } });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.ok ? [] : bad.errors, [
      "provider.type must be one of prometheus, influxdb, datadog, externalmetrics, stackdriver, cloudwatch, newrelic, graphite, dynatrace, keptn, splunk, got graphite2",
      "query is required: a non-empty query",
    ]);
  });

  test("an AlertProvider needs an address or a secret", () => {
    assert.ok(validateAlertProvider({ type: "slack", address: "https://hooks.slack.test/x" }).ok);
    assert.ok(validateAlertProvider({ type: "msteams", secretRef: { name: "teams" } }).ok);
    const missing = validateAlertProvider({ type: "discord" });
    assert.deepEqual(missing.ok ? [] : missing.errors, [
      "address is required unless secretRef names a Secret holding it: set address or secretRef",
    ]);
    const bad = validateAlertProvider({ type: "pager" });
    assert.match(
      bad.ok ? "" : (bad.errors[0] ?? ""),
      /^type must be one of slack, msteams, discord, rocket, gchat, got pager$/,
    );
  });
});

test("fieldPath renders indexes and unusual keys", () => {
  assert.equal(fieldPath([]), "spec");
  assert.equal(fieldPath(["analysis", "metrics", 0, "name"]), "analysis.metrics[0].name");
  assert.equal(fieldPath(["labels", "app.kubernetes.io/name"]), 'labels["app.kubernetes.io/name"]');
  assert.equal(fieldPath([0, Symbol.for("s")]), '[0]["Symbol(s)"]');
});

test("every provider is accepted with a target it routes, and has a router", () => {
  const knativeService = { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "web" };
  for (const provider of PROVIDERS) {
    // With the objects some providers route from: they need them, the others only warn.
    const refs = {
      ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "web" },
      routeRef: { apiVersion: "apisix.apache.org/v2", kind: "ApisixRoute", name: "web" },
      ...(provider === "knative" ? { targetRef: knativeService } : {}),
    };
    const result = validateCanary(rawSpec({ stepWeight: 10 }, { provider, ...refs }));
    assert.ok(result.ok, `provider ${provider}: ${result.ok ? "" : result.errors.join("; ")}`);
    assert.ok(routerFor(provider), `provider ${provider} has a router`);
  }
});
