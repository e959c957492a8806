/**
 * A target with an autoscaling/v2 HPA: the primary gets its own HPA (bounds overridden by
 * primaryScalerReplicas) scaling the primary; the canary scales back up to the HPA's minimum.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment, V2HorizontalPodAutoscaler } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
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

const namespace = testNamespace("workload-hpa");

describe("autoscaler", () => {
  it("copies the HPA for the primary and scales the canary up to its minimum", async () => {
    await createAvailable(deployment(namespace, "api", 3));
    await admin.create(RESOURCES.horizontalPodAutoscalers, namespace, {
      metadata: { name: "api" },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "api" },
        minReplicas: 3,
        maxReplicas: 6,
        metrics: [
          {
            type: "Resource",
            resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
          },
        ],
      },
    });
    const target = await createCanary(
      namespace,
      "api",
      canarySpec("api", {
        autoscalerRef: {
          apiVersion: "autoscaling/v2",
          kind: "HorizontalPodAutoscaler",
          name: "api",
          primaryScalerReplicas: { minReplicas: 2, maxReplicas: 5 },
        },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);

    const hpa = await admin.get<V2HorizontalPodAutoscaler>(
      RESOURCES.horizontalPodAutoscalers,
      namespace,
      "api-primary",
    );
    assert.deepEqual(hpa.spec?.scaleTargetRef, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "api-primary",
    });
    assert.equal(hpa.spec?.minReplicas, 2);
    assert.equal(hpa.spec?.maxReplicas, 5);
    assert.equal(hpa.spec?.metrics?.[0]?.resource?.name, "cpu");
    assert.equal(hpa.metadata?.ownerReferences?.[0]?.kind, "Canary");
    assert.equal((await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "api")).spec?.replicas, 0);

    await activities.scaleCanary(target, "desired");
    assert.equal(
      (await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "api")).spec?.replicas,
      3,
      "the target's HPA minimum",
    );
  });

  it("rejects a missing HPA with a non-retryable error", async () => {
    await createAvailable(deployment(namespace, "solo", 1));
    const { activities } = operatorActivities();
    const missing = await createCanary(
      namespace,
      "solo",
      canarySpec("solo", {
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "nope" },
      }),
    );
    await assert.rejects(activities.initialize(missing), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, NON_RETRYABLE_ERRORS.targetNotFound);
      assert.match(
        err.message,
        /HorizontalPodAutoscaler .*\/nope \(spec.autoscalerRef\) not found: create it/,
      );
      return true;
    });
  });
});
