/**
 * Flagger's leniency: manifests Flagger accepts and reinterprets are accepted, run as Flagger runs
 * them (the resolved spec and the weights it yields), and the reinterpretation is a warning.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { judgeValue } from "../../activities/metrics/verdict.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { validateCanary } from "../../src/api/validate.ts";
import { canaryWeightSteps } from "../../workflows/decisions/index.ts";
import { rawSpec } from "./helpers/specs.ts";

function accepted(input: unknown): { spec: ResolvedCanarySpec; warnings: readonly string[] } {
  const result = validateCanary(input);
  assert.ok(result.ok, `expected the spec to be accepted, got: ${result.ok ? "" : result.errors.join("; ")}`);
  return { spec: result.spec, warnings: result.warnings };
}

/** The one warning that mentions `about`, which must exist. */
function warningAbout(warnings: readonly string[], about: string): string {
  const found = warnings.filter((w) => w.includes(about));
  assert.equal(found.length, 1, `expected one warning about ${about}, got:\n${warnings.join("\n")}`);
  return found[0] as string;
}

const deployment = { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" };

describe("a Canary without analysis", () => {
  test("is promoted without analysis, with a warning saying so", () => {
    const { spec, warnings } = accepted({ targetRef: deployment, service: { port: 9898 } });
    assert.equal(spec.skipAnalysis, true);
    assert.match(
      warningAbout(warnings, "analysis is not set"),
      /promoted as soon as it is ready, without checks or traffic steps, as Flagger does/,
    );
  });

  test("skipAnalysis: false does not bring analysis back, as in Flagger; the warning says so", () => {
    const { spec, warnings } = accepted({
      targetRef: deployment,
      service: { port: 9898 },
      skipAnalysis: false,
    });
    assert.equal(spec.skipAnalysis, true);
    assert.match(warningAbout(warnings, "analysis is not set"), /skipAnalysis: false has no effect/);
  });

  test("skipAnalysis: true says it on purpose: no warning", () => {
    const { spec, warnings } = accepted({
      targetRef: deployment,
      service: { port: 9898 },
      skipAnalysis: true,
    });
    assert.equal(spec.skipAnalysis, true);
    assert.deepEqual(warnings, []);
  });
});

describe("strategy fields beside each other", () => {
  test("stepWeight with iterations runs blue/green, as in Flagger", () => {
    const { spec, warnings } = accepted(rawSpec({ stepWeight: 10, iterations: 5 }));
    assert.equal(spec.strategy.kind, "blue-green");
    assert.equal(spec.analysis.iterations, 5);
    assert.match(
      warningAbout(warnings, "analysis.iterations selects blue/green"),
      /analysis\.stepWeight has no effect, as in Flagger: 5 iterations run/,
    );
  });

  test("stepWeights with iterations and match runs A/B testing", () => {
    const { spec, warnings } = accepted(
      rawSpec({ stepWeights: [10, 50], iterations: 3, match: [{ headers: { user: { exact: "qa" } } }] }),
    );
    assert.equal(spec.strategy.kind, "ab-testing");
    warningAbout(warnings, "analysis.iterations selects A/B testing, so analysis.stepWeights has no effect");
  });

  test("stepWeight with stepWeights steps by stepWeight up to the last of stepWeights", () => {
    const { spec, warnings } = accepted(rawSpec({ stepWeight: 20, stepWeights: [5, 10, 50] }));
    assert.deepEqual(canaryWeightSteps(spec.analysis), [20, 40, 50]);
    assert.match(
      warningAbout(warnings, "are both set"),
      /advances by stepWeight \(20\) up to the last of stepWeights \(50\)/,
    );
  });

  test("maxWeight below stepWeight: one step to maxWeight, then promotion", () => {
    const { spec, warnings } = accepted(rawSpec({ stepWeight: 30, maxWeight: 20 }));
    assert.deepEqual(canaryWeightSteps(spec.analysis), [20]);
    assert.match(
      warningAbout(warnings, "analysis.maxWeight (20) is below analysis.stepWeight (30)"),
      /goes to 20% in one step and is then promoted/,
    );
  });
});

describe("metrics without a threshold, judged as Flagger judges them (a threshold of 0)", () => {
  test("request-success-rate passes every value", () => {
    const { spec, warnings } = accepted(
      rawSpec({ stepWeight: 10, metrics: [{ name: "request-success-rate" }] }),
    );
    const [metric] = spec.analysis.metrics;
    assert.deepEqual(metric?.thresholdRange, { min: 0 });
    assert.equal(judgeValue("request-success-rate", 0.5, metric?.thresholdRange ?? {}).verdict, "pass");
    assert.match(warningAbout(warnings, "analysis.metrics[0]"), /every value passes/);
  });

  test("request-duration fails above 0", () => {
    const { spec, warnings } = accepted(rawSpec({ stepWeight: 10, metrics: [{ name: "request-duration" }] }));
    const [metric] = spec.analysis.metrics;
    assert.deepEqual(metric?.thresholdRange, { max: 0 });
    assert.equal(judgeValue("request-duration", 12, metric?.thresholdRange ?? {}).verdict, "fail");
    assert.match(warningAbout(warnings, "analysis.metrics[0]"), /any value above 0 fails the check/);
  });

  test("a template metric fails above 0", () => {
    const { spec } = accepted(
      rawSpec({ stepWeight: 10, metrics: [{ name: "errors", templateRef: { name: "errors" } }] }),
    );
    assert.deepEqual(spec.analysis.metrics[0]?.thresholdRange, { max: 0 });
  });

  test("an empty thresholdRange passes every value", () => {
    const { spec, warnings } = accepted(
      rawSpec({ stepWeight: 10, metrics: [{ name: "request-duration", thresholdRange: {} }] }),
    );
    assert.deepEqual(spec.analysis.metrics[0]?.thresholdRange, {});
    assert.match(warningAbout(warnings, "thresholdRange has neither min nor max"), /every value passes/);
  });

  test("a metric with a threshold gets no such warning", () => {
    const { warnings } = accepted(
      rawSpec({ stepWeight: 10, metrics: [{ name: "request-duration", thresholdRange: { max: 500 } }] }),
    );
    assert.deepEqual(warnings, []);
  });
});

describe("intervals below the floor", () => {
  for (const interval of ["0s", "50ms"]) {
    test(`${interval} is raised to 100ms with a warning`, () => {
      const { spec, warnings } = accepted(rawSpec({ stepWeight: 10, interval }));
      assert.equal(spec.analysis.intervalMs, 100);
      assert.match(warningAbout(warnings, "analysis.interval"), /is raised to it/);
    });
  }

  test("an interval under Flagger's 10s floor runs as written (docs/validation.md)", () => {
    const { spec, warnings } = accepted(rawSpec({ stepWeight: 10, interval: "5s" }));
    assert.equal(spec.analysis.intervalMs, 5000);
    assert.deepEqual(warnings, []);
  });
});

describe("0 means unset where Flagger reads Go's zero value", () => {
  test("threshold, maxWeight, stepWeightPromotion and iterations take their defaults", () => {
    const { spec, warnings } = accepted(
      rawSpec({ stepWeight: 25, threshold: 0, maxWeight: 0, stepWeightPromotion: 0, iterations: 0 }),
    );
    assert.equal(spec.analysis.threshold, 1);
    assert.equal(spec.analysis.maxWeight, 100);
    assert.equal(spec.analysis.stepWeightPromotion, undefined);
    assert.equal(spec.strategy.kind, "canary");
    assert.deepEqual(warnings, []);
  });

  test("stepWeight 0 beside stepWeights is no stepWeight", () => {
    const { spec, warnings } = accepted(rawSpec({ stepWeight: 0, stepWeights: [5, 50] }));
    assert.deepEqual(canaryWeightSteps(spec.analysis), [5, 50]);
    assert.deepEqual(warnings, []);
  });

  test("a cookie maxAge of 0 is no maxAge", () => {
    const { spec } = accepted(
      rawSpec({ stepWeight: 10, sessionAffinity: { cookieName: "canary", maxAge: 0 } }),
    );
    assert.deepEqual(spec.analysis.sessionAffinity, { cookieName: "canary" });
  });
});

describe("service", () => {
  test("a Knative Service target needs none, as in Flagger's Knative Canaries", () => {
    const { spec } = accepted({
      provider: "knative",
      targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "hello" },
      analysis: { stepWeight: 10 },
    });
    assert.equal(spec.service.name, "hello");
  });

  test("a workload target needs one", () => {
    const result = validateCanary({ targetRef: deployment, analysis: { stepWeight: 10 } });
    assert.deepEqual(result.ok ? [] : result.errors, [
      "service is required: set service.port to the port the apex, primary and canary Services expose (only a Knative Service target may leave service out)",
    ]);
  });
});

describe("an Istio service with appProtocol tcp", () => {
  const tcp = (analysis: Record<string, unknown>, service: Record<string, unknown> = {}) =>
    rawSpec(analysis, { provider: "istio", service: { port: 5432, appProtocol: "tcp", ...service } });

  test("HTTP settings have no effect on its TCP route", () => {
    const { warnings } = accepted(tcp({ stepWeight: 10, mirror: true }, { timeout: "5s" }));
    assert.match(
      warningAbout(warnings, "service.appProtocol tcp"),
      /so service\.timeout, analysis\.mirror have no effect/,
    );
  });

  test("A/B testing sends every connection to the canary, as in Flagger", () => {
    const { warnings } = accepted(tcp({ iterations: 3, match: [{ headers: { user: { exact: "qa" } } }] }));
    warningAbout(warnings, "A/B testing sends every connection to the canary");
  });

  test("a plain weighted TCP canary gets no warning", () => {
    assert.deepEqual(accepted(tcp({ stepWeight: 10 })).warnings, []);
  });
});
