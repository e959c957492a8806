/**
 * The keptn provider against the test world's API server (Keptn's metrics.keptn.sh CRDs from
 * test/data/crds), as the operator's service account. The test plays Keptn's metrics operator: it
 * writes KeptnMetric values and completes Analyses through the status subresource.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { createRunMetrics } from "../../activities/metrics/index.ts";
import { MetricQueryError } from "../../activities/metrics/provider.ts";
import { createMetricProvider } from "../../activities/metrics/registry.ts";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import { inMemoryTemplates } from "./analysis-support.ts";
import { admin, operatorClient, testNamespace } from "./kube-support.ts";
import { metricsTarget, providerSettings } from "./metric-provider-support.ts";

const namespace = testNamespace("metrics-keptn");
const { templates, resources } = inMemoryTemplates();
const runMetrics = createRunMetrics({ resources, config: parseOperatorConfig(), kube: operatorClient() });

const keptn = (plural: string, kind: string): ResourceType => ({
  group: "metrics.keptn.sh",
  version: "v1beta1",
  plural,
  kind,
});
const KEPTN_METRICS = keptn("keptnmetrics", "KeptnMetric");
const ANALYSES = keptn("analyses", "Analysis");
const DEFINITIONS = keptn("analysisdefinitions", "AnalysisDefinition");

interface AnalysisObject {
  metadata: { name: string };
  spec: {
    analysisDefinition: { name: string };
    timeframe: { recent: string };
    args?: Record<string, string>;
  };
  status?: unknown;
}

/** Keptn's metrics operator, for Analyses: each definition's verdict, written once it sees one. */
function keptnAnalyses(verdicts: Record<string, boolean>) {
  const seen: AnalysisObject[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const { items } = await admin.list<AnalysisObject>(ANALYSES, namespace);
      for (const analysis of items) {
        const verdict = verdicts[analysis.spec.analysisDefinition.name];
        if (analysis.status !== undefined || verdict === undefined) continue;
        seen.push(analysis);
        await admin.mergePatch(
          ANALYSES,
          namespace,
          analysis.metadata.name,
          { status: { state: "Completed", pass: verdict, warning: false, raw: "{}" } },
          "status",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
    },
  };
}

const template = (name: string, query: string) =>
  templates.set(`${namespace}/${name}`, { provider: { type: "keptn" }, query });
const metric = (name: string, range: Record<string, number> = { max: 1 }) => ({
  name,
  templateRef: { name },
  thresholdRange: range,
});

describe("keptn metric provider", () => {
  before(async () => {
    const keptnMetric = (name: string, status?: Record<string, string>) =>
      admin
        .create(KEPTN_METRICS, namespace, {
          metadata: { name },
          spec: {
            provider: { name: "my-prometheus" },
            query: "sum(rate(http_requests_total[1m]))",
            fetchIntervalSeconds: 10,
          },
        })
        .then(() => status && admin.mergePatch(KEPTN_METRICS, namespace, name, { status }, "status"));
    await keptnMetric("response-time", {
      value: "0.25",
      rawValue: "MC4yNQ==",
      lastUpdated: new Date().toISOString(),
    });
    await keptnMetric("fresh");
    await keptnMetric("broken", { value: "", errMsg: "prometheus: connection refused" });
    for (const name of ["error-rate", "latency-budget", "never-evaluated"]) {
      await admin.create(DEFINITIONS, namespace, {
        metadata: { name },
        spec: {
          objectives: [
            { analysisValueTemplateRef: { name }, target: { failure: { greaterThan: { fixedValue: 1 } } } },
          ],
        },
      });
    }
  });

  test("keptnmetric: the KeptnMetric's current value, found by the rendered query", async () => {
    template("response-time", "keptnmetric/{{ namespace }}/response-time/2m/reporter=destination");
    const [result] = await runMetrics(metricsTarget(namespace, [metric("response-time")]));
    assert.deepEqual(
      [result?.verdict, result?.value, result?.message],
      ["pass", 0.25, "response-time 0.25 <= 1"],
    );
  });

  test("analysis: an Analysis of the definition is created, completed by Keptn, read as 1 or 0, and deleted", async () => {
    const operator = keptnAnalyses({ "error-rate": true, "latency-budget": false });
    try {
      template(
        "error-rate",
        "analysis/{{ namespace }}/error-rate/5m/workload={{ target }};reporter=destination",
      );
      template("latency-budget", "analysis/{{ namespace }}/latency-budget");
      const results = await runMetrics(
        metricsTarget(namespace, [metric("error-rate", { min: 1 }), metric("latency-budget", { min: 1 })]),
      );
      assert.deepEqual(
        results.map((r) => [r.verdict, r.value]),
        [
          ["pass", 1],
          ["fail", 0],
        ],
      );
      assert.deepEqual(
        operator.seen
          .map((a) => [a.spec.analysisDefinition.name, a.spec.timeframe.recent, a.spec.args])
          .sort(),
        [
          ["error-rate", "5m", { workload: "podinfo", reporter: "destination" }],
          ["latency-budget", "1m", {}],
        ],
      );
    } finally {
      await operator.stop();
    }
    const { items } = await admin.list(ANALYSES, namespace);
    assert.deepEqual(items, [], "the operator deletes the Analyses it created");
  });

  test("an Analysis Keptn never completes is a failed check after ten seconds, and is deleted", async () => {
    template("never", "analysis/{{ namespace }}/never-evaluated/1m");
    const started = Date.now();
    const [result] = await runMetrics(metricsTarget(namespace, [metric("never")]));
    assert.ok(Date.now() - started >= 10_000);
    assert.match(
      result?.message ?? "",
      new RegExp(
        `^never: Keptn did not complete Analysis ${namespace}/never-evaluated-\\w+ of AnalysisDefinition never-evaluated within 10s: is Keptn's metrics operator running\\?$`,
      ),
    );
    const { items } = await admin.list(ANALYSES, namespace);
    assert.deepEqual(items, []);
  });

  test("a metric without a value, Keptn's own error, a missing metric and a malformed query say what to fix", async () => {
    template("fresh", `keptnmetric/${namespace}/fresh`);
    template("broken", `keptnmetric/${namespace}/broken`);
    template("missing", `keptnmetric/${namespace}/missing`);
    template("malformed", "keptnmetric/only-two");
    template("unknown-type", `evaluation/${namespace}/x`);
    const results = await runMetrics(
      metricsTarget(
        namespace,
        ["fresh", "broken", "missing", "malformed", "unknown-type"].map((n) => metric(n)),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.message),
      [
        `fresh: KeptnMetric ${namespace}/fresh has no value yet (status.value): is Keptn's metrics operator running?`,
        `broken: Keptn could not measure KeptnMetric ${namespace}/broken: prometheus: connection refused`,
        `missing: keptnmetrics.metrics.keptn.sh missing in namespace ${namespace} not found`,
        'malformed: the keptn query "keptnmetric/only-two" is not <keptnmetric|analysis>/<namespace>/<name>/<timeframe>/<arguments>',
        'unknown-type: the keptn query starts with "evaluation": it must start with keptnmetric or analysis (<keptnmetric|analysis>/<namespace>/<name>/<timeframe>/<arguments>)',
      ],
    );
  });

  test("isOnline: the cluster serves Keptn's API; without a Kubernetes client the provider says so", async () => {
    await createMetricProvider(
      "keptn",
      providerSettings(undefined, undefined, { kube: operatorClient() }),
    ).isOnline();
    assert.throws(
      () => createMetricProvider("keptn", providerSettings(undefined)),
      (error: unknown) => error instanceof MetricQueryError && error.kind === "config",
    );
  });
});
