/**
 * A Kubernetes Service target end to end, with the operator as its own process: the controller
 * watches the Service, so pointing it at other pods starts a rollout, which goes through its steps
 * to Succeeded with the new spec on the primary copy.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin, canarySpec, testNamespace } from "../activities/kube-support.ts";
import { recordCanaryWeights } from "../activities/rollout-support.ts";
import { waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-service-target");
let operator: OperatorProcess | undefined;

before(async () => {
  operator = await startOperator("service-target", operatorGroup(), ["--namespace", namespace]);
});

after(async () => {
  await operator?.stop();
});

describe("a Kubernetes Service target", () => {
  it("a change to the Service's spec is a rollout: every step, then the new spec on the primary", async () => {
    await admin.create(RESOURCES.services, namespace, {
      metadata: { name: "shop" },
      spec: { selector: { app: "shop-blue" }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name: "shop", namespace },
      spec: canarySpec("shop", {
        targetRef: { apiVersion: "v1", kind: "Service", name: "shop" },
        analysis: { interval: "1s", threshold: 2, stepWeight: 50, maxWeight: 50 },
      }),
    });
    const first = await statusWhere(namespace, "shop", "Initialized", (s) => s.phase === "Initialized");
    const route = recordCanaryWeights(namespace, "shop", admin);
    await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });

    await admin.mergePatch(RESOURCES.services, namespace, "shop", {
      spec: { selector: { app: "shop-green" } },
    });
    await statusWhere(
      namespace,
      "shop",
      "Succeeded with the new spec",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
    );
    await route.stop();
    assert.deepEqual(route.weights, [0, 50, 0]);
    const primary = await admin.get<V1Service>(RESOURCES.services, namespace, "shop-primary");
    assert.deepEqual(primary.spec?.selector, { app: "shop-green" });
  });
});
