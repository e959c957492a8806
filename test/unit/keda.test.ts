/** The primary ScaledObject's triggers and metadata, built from the target's. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  buildPrimaryScaledObject,
  PAUSED_REPLICAS_ANNOTATION,
  primaryTrigger,
} from "../../activities/keda.ts";

const prometheus = (query: string, name?: string) => ({
  type: "prometheus",
  ...(name === undefined ? {} : { name }),
  metadata: { serverAddress: "http://prometheus:9090", query, threshold: "5" },
});

describe("primaryTrigger", () => {
  it("points a query at the target, its -canary or its -primary at the primary, once", () => {
    const query =
      'sum(rate(http_requests_total{app="podinfo"}[30s])) + x{app="podinfo-canary"} + y{app="podinfo-primary"}';
    const trigger = prometheus(query);
    assert.equal(
      primaryTrigger(trigger, "podinfo", undefined).metadata?.query,
      'sum(rate(http_requests_total{app="podinfo-primary"}[30s])) + x{app="podinfo-primary"} + y{app="podinfo-primary"}',
    );
    assert.equal(trigger.metadata.query, query, "the target's trigger is not changed");
  });

  it("treats the target's name literally, not as a pattern", () => {
    assert.equal(
      primaryTrigger(prometheus("a{app=~'web.v1|webxv1'}"), "web.v1", undefined).metadata?.query,
      "a{app=~'web.v1-primary|webxv1'}",
    );
  });

  it("with primaryScalerQueries, replaces the named triggers' queries and keeps the others as they are", () => {
    const queries = { rps: 'sum(rate(http_requests_total{app="podinfo-primary"}[1m]))' };
    assert.equal(primaryTrigger(prometheus("old", "rps"), "podinfo", queries).metadata?.query, queries.rps);
    assert.equal(
      primaryTrigger(prometheus('x{app="podinfo"}', "other"), "podinfo", queries).metadata?.query,
      'x{app="podinfo"}',
    );
    assert.equal(
      primaryTrigger(prometheus('x{app="podinfo"}'), "podinfo", queries).metadata?.query,
      'x{app="podinfo"}',
    );
  });

  it("leaves a trigger without a query alone", () => {
    const cpu = { type: "cpu", metricType: "Utilization", metadata: { value: "80" } };
    assert.deepEqual(primaryTrigger(cpu, "podinfo", undefined), cpu);
  });
});

describe("buildPrimaryScaledObject", () => {
  const scaledObject = {
    metadata: {
      name: "podinfo-so",
      namespace: "test",
      labels: { team: "a", "app.kubernetes.io/part-of": "shop" },
      annotations: {
        [PAUSED_REPLICAS_ANNOTATION]: "0",
        "kustomize.toolkit.fluxcd.io/checksum": "x",
        "scaledobject.keda.sh/transfer-hpa-ownership": "true",
      },
    },
    spec: {
      scaleTargetRef: { name: "podinfo", envSourceContainerName: "app" },
      pollingInterval: 10,
      initialCooldownPeriod: 30,
      minReplicaCount: 1,
      maxReplicaCount: 3,
      advanced: { horizontalPodAutoscalerConfig: { name: "podinfo-hpa", behavior: { scaleDown: {} } } },
      triggers: [prometheus('x{app="podinfo"}', "rps")],
    },
  };
  const spec = {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment" as const, name: "podinfo" },
    autoscalerRef: {
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject" as const,
      name: "podinfo-so",
      primaryScalerReplicas: { maxReplicas: 5 },
    },
  };

  it("scales the primary, keeps every other field, and takes primaryScalerReplicas over the bounds", () => {
    const primary = buildPrimaryScaledObject(scaledObject, spec, ["app.kubernetes.io/"]);
    assert.equal(primary.metadata?.name, "podinfo-so-primary");
    assert.deepEqual(primary.spec?.scaleTargetRef, {
      name: "podinfo-primary",
      envSourceContainerName: "app",
    });
    assert.equal(primary.spec?.pollingInterval, 10);
    assert.equal(primary.spec?.initialCooldownPeriod, 30);
    assert.equal(primary.spec?.minReplicaCount, 1);
    assert.equal(primary.spec?.maxReplicaCount, 5);
    assert.deepEqual(primary.spec?.advanced, {
      horizontalPodAutoscalerConfig: { name: "podinfo-hpa-primary", behavior: { scaleDown: {} } },
    });
    assert.equal(primary.spec?.triggers?.[0]?.metadata?.query, 'x{app="podinfo-primary"}');
    assert.deepEqual(primary.metadata?.labels, { "app.kubernetes.io/part-of": "shop" });
    assert.deepEqual(
      primary.metadata?.annotations,
      { "scaledobject.keda.sh/transfer-hpa-ownership": "true" },
      "neither the target's pause nor GitOps tooling annotations reach the primary",
    );
  });

  it("leaves the HPA name to KEDA when the target's ScaledObject names none", () => {
    const { advanced: _advanced, ...rest } = scaledObject.spec;
    const primary = buildPrimaryScaledObject({ ...scaledObject, spec: rest }, spec, []);
    assert.equal(primary.spec?.advanced, undefined);
  });
});
