/**
 * A target scaled by a KEDA ScaledObject, against the real API server (KEDA's own CRD) as the
 * operator's service account. No KEDA controller runs here: what is checked is what the operator
 * writes. The primary gets an owned `-primary` ScaledObject scaling it, its queries pointed at the
 * primary; the target's ScaledObject is paused at zero while the canary is down, resumed before
 * it comes back up; promotion copies the target's ScaledObject again; finalize resumes it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { PAUSED_REPLICAS_ANNOTATION, type ScaledObject } from "../../activities/keda.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("workload-keda");

const scaledObject = (name: string) => admin.get<ScaledObject>(RESOURCES.scaledObjects, namespace, name);
const replicas = async (name: string) =>
  (await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name)).spec?.replicas;
const paused = async (name: string) =>
  (await scaledObject(name)).metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION];

/** A Deployment and its ScaledObject `<app>-so`: two Prometheus triggers and a CPU one. */
async function scaledApp(app: string): Promise<void> {
  await createAvailable(deployment(namespace, app, 2));
  await admin.create(RESOURCES.scaledObjects, namespace, {
    metadata: { name: `${app}-so`, annotations: { "example.test/docs": "https://docs.example.test" } },
    spec: {
      scaleTargetRef: { name: app },
      pollingInterval: 10,
      minReplicaCount: 3,
      maxReplicaCount: 6,
      advanced: { horizontalPodAutoscalerConfig: { name: `${app}-hpa` } },
      triggers: [
        {
          type: "prometheus",
          name: "rps",
          metadata: {
            serverAddress: "http://prometheus:9090",
            query: `sum(rate(http_requests_total{app="${app}"}[30s]))`,
            threshold: "5",
          },
        },
        {
          type: "prometheus",
          name: "errors",
          metadata: {
            serverAddress: "http://prometheus:9090",
            query: `sum(rate(http_errors_total{app="${app}-canary"}[30s]))`,
            threshold: "1",
          },
        },
        { type: "cpu", metricType: "Utilization", metadata: { value: "80" } },
      ],
    },
  });
}

function kedaSpec(app: string, autoscaler: Partial<NonNullable<CanarySpec["autoscalerRef"]>> = {}) {
  return canarySpec(app, {
    autoscalerRef: { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", name: `${app}-so`, ...autoscaler },
  });
}

describe("KEDA ScaledObject", () => {
  it("initialize creates the primary's ScaledObject and pauses the target's; scaling resumes and pauses it", async () => {
    await scaledApp("api");
    const target = await createCanary(
      namespace,
      "api",
      kedaSpec("api", { primaryScalerReplicas: { minReplicas: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);

    const primary = await scaledObject("api-so-primary");
    assert.equal(primary.metadata?.ownerReferences?.[0]?.kind, "Canary");
    assert.equal(primary.metadata?.ownerReferences?.[0]?.controller, true);
    assert.equal(primary.spec?.scaleTargetRef?.name, "api-primary");
    assert.equal(primary.spec?.minReplicaCount, 2, "primaryScalerReplicas.minReplicas");
    assert.equal(primary.spec?.maxReplicaCount, 6);
    assert.equal(primary.spec?.pollingInterval, 10);
    assert.equal(primary.spec?.advanced?.horizontalPodAutoscalerConfig?.name, "api-hpa-primary");
    assert.deepEqual(
      primary.spec?.triggers?.map((trigger) => trigger.metadata?.query),
      [
        'sum(rate(http_requests_total{app="api-primary"}[30s]))',
        'sum(rate(http_errors_total{app="api-primary"}[30s]))',
        undefined,
      ],
    );
    assert.equal(primary.metadata?.annotations?.["example.test/docs"], "https://docs.example.test");
    assert.equal(primary.metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION], undefined);
    assert.equal(await paused("api-so"), "0", "the target's ScaledObject holds the canary at zero");
    assert.equal(await replicas("api"), 0);

    // Initialized again (a restarted workflow) while the target's is paused: the primary's never is,
    // and a primary already as wanted is not written.
    await activities.initialize(target);
    const again = await scaledObject("api-so-primary");
    assert.equal(again.metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION], undefined);
    assert.equal(again.metadata?.resourceVersion, primary.metadata?.resourceVersion);

    await activities.scaleCanary(target, "desired");
    assert.equal(await paused("api-so"), undefined, "resumed for the analysis");
    assert.equal(await replicas("api"), 3, "the ScaledObject's minReplicaCount");

    await activities.scaleCanary(target, "zero");
    assert.equal(await paused("api-so"), "0");
    assert.equal(await replicas("api"), 0);
  });

  it("primaryScalerQueries replace the named triggers' queries; promotion copies the target's ScaledObject again", async () => {
    await scaledApp("web");
    const rps = 'sum(rate(http_requests_total{app="web-primary", path="/"}[1m]))';
    const target = await createCanary(namespace, "web", kedaSpec("web", { primaryScalerQueries: { rps } }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    assert.deepEqual(
      (await scaledObject("web-so-primary")).spec?.triggers?.map((trigger) => trigger.metadata?.query),
      [rps, 'sum(rate(http_errors_total{app="web-canary"}[30s]))', undefined],
      "only the trigger named in primaryScalerQueries changes, as in Flagger",
    );

    await admin.mergePatch(RESOURCES.scaledObjects, namespace, "web-so", {
      spec: { maxReplicaCount: 9, cooldownPeriod: 120 },
    });
    await activities.promote(target);
    const promoted = await scaledObject("web-so-primary");
    assert.equal(promoted.spec?.maxReplicaCount, 9);
    assert.equal(promoted.spec?.cooldownPeriod, 120);
    assert.equal(promoted.spec?.triggers?.[0]?.metadata?.query, rps);
  });

  it("finalize resumes the target's ScaledObject and scales the target back up", async () => {
    await scaledApp("shop");
    const target = await createCanary(namespace, "shop", { ...kedaSpec("shop"), revertOnDeletion: true });
    const { activities } = operatorActivities();
    await activities.initialize(target);
    assert.equal(await paused("shop-so"), "0");

    await activities.finalize(target, true);
    assert.equal(await paused("shop-so"), undefined);
    assert.equal(await replicas("shop"), 3);
  });

  it("a missing ScaledObject is a non-retryable error naming it", async () => {
    await createAvailable(deployment(namespace, "solo", 1));
    const target = await createCanary(namespace, "solo", kedaSpec("solo"));
    const { activities } = operatorActivities();
    await assert.rejects(activities.initialize(target), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, NON_RETRYABLE_ERRORS.targetNotFound);
      assert.match(err.message, /ScaledObject .*\/solo-so \(spec.autoscalerRef\) not found: create it/);
      return true;
    });
  });
});
