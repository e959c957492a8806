/**
 * The ownership check before the operator's first write to a generated object, against the real
 * API server as the operator's service account: a `-primary` Deployment, a `-canary` Service, a
 * `-primary` ConfigMap or a primary HPA someone else made is refused with InvalidSpec naming it
 * and left untouched; a config copy two Canaries share stays shared; an object the operator
 * created whose owner reference was never set (an interrupted creation) is taken as its own.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ConfigMap, V1Deployment } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS, type Target } from "../../workflows/activity-port.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  operatorClient,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("workload-owner");

/** Initialize must refuse with InvalidSpec saying `message`, and leave `object` as it was. */
async function refuses(target: Target, object: [ResourceType, string], message: string): Promise<void> {
  const [type, name] = object;
  const before = await admin.get(type, namespace, name);
  const { activities } = operatorActivities();
  const err = await activities.initialize(target).then(
    () => assert.fail("expected initialize to refuse"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, NON_RETRYABLE_ERRORS.invalidSpec);
  assert.equal(err.nonRetryable, true);
  assert.equal(err.message, message);
  // Not the resourceVersion: a workload's controller may still be writing its status.
  const after = await admin.get(type, namespace, name);
  assert.equal(after.metadata?.generation, before.metadata?.generation, `${name}'s spec was not written`);
  assert.deepEqual(after.metadata?.ownerReferences, before.metadata?.ownerReferences);
  assert.deepEqual(
    after.metadata?.managedFields?.filter((f) => f.manager === operatorClient().fieldManager),
    [],
    `the operator wrote nothing to ${name}`,
  );
}

describe("ownership of generated objects", () => {
  it("refuses a -primary Deployment someone else made", async () => {
    await createAvailable(deployment(namespace, "podinfo", 1));
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, "podinfo-primary", 1));
    const target = await createCanary(namespace, "podinfo", canarySpec("podinfo"));
    await refuses(
      target,
      [RESOURCES.deployments, "podinfo-primary"],
      `Deployment ${namespace}/podinfo-primary exists and is not owned by Canary ${namespace}/podinfo: ` +
        "delete it, or rename the target",
    );
    const untouched = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "podinfo");
    assert.equal(untouched.spec?.replicas, 1, "the target was not scaled down");
  });

  it("refuses a -canary Service someone else made", async () => {
    await createAvailable(deployment(namespace, "cart", 1));
    await admin.create(RESOURCES.services, namespace, {
      metadata: { name: "cart-canary" },
      spec: { selector: { app: "elsewhere" }, ports: [{ port: 80 }] },
    });
    const target = await createCanary(namespace, "cart", canarySpec("cart"));
    await refuses(
      target,
      [RESOURCES.services, "cart-canary"],
      `Service ${namespace}/cart-canary exists and is not owned by Canary ${namespace}/cart: ` +
        "delete it, or set spec.service.name to a name whose -primary and -canary Services are free",
    );
  });

  it("refuses a -primary ConfigMap someone else made", async () => {
    await admin.create(RESOURCES.configMaps, namespace, { metadata: { name: "settings" }, data: { a: "1" } });
    await admin.create(RESOURCES.configMaps, namespace, {
      metadata: { name: "settings-primary" },
      data: { theirs: "yes" },
    });
    await createAvailable(
      deployment(namespace, "orders", 1, {
        extra: { volumes: [{ name: "settings", configMap: { name: "settings" } }] },
      }),
    );
    const target = await createCanary(namespace, "orders", canarySpec("orders"));
    await refuses(
      target,
      [RESOURCES.configMaps, "settings-primary"],
      `ConfigMap ${namespace}/settings-primary exists and is not owned by Canary ${namespace}/orders: ` +
        "delete it, or rename the ConfigMap settings the target uses",
    );
    const copy = await admin.get<V1ConfigMap>(RESOURCES.configMaps, namespace, "settings-primary");
    assert.deepEqual(copy.data, { theirs: "yes" });
  });

  it("refuses a primary HorizontalPodAutoscaler someone else made", async () => {
    await createAvailable(deployment(namespace, "search", 1));
    const hpa = (name: string, target: string) => ({
      metadata: { name },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [
          {
            type: "Resource",
            resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
          },
        ],
      },
    });
    await admin.create(RESOURCES.horizontalPodAutoscalers, namespace, hpa("search", "search"));
    await admin.create(RESOURCES.horizontalPodAutoscalers, namespace, hpa("search-primary", "other"));
    const target = await createCanary(
      namespace,
      "search",
      canarySpec("search", {
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "search" },
      }),
    );
    await refuses(
      target,
      [RESOURCES.horizontalPodAutoscalers, "search-primary"],
      `HorizontalPodAutoscaler ${namespace}/search-primary exists and is not owned by Canary ${namespace}/search: ` +
        "delete it, or rename the HorizontalPodAutoscaler search",
    );
  });

  it("shares a config copy between two Canaries, each a (non-controller) owner", async () => {
    await admin.create(RESOURCES.configMaps, namespace, { metadata: { name: "common" }, data: { a: "1" } });
    const volumes = [{ name: "common", configMap: { name: "common" } }];
    await createAvailable(deployment(namespace, "left", 1, { extra: { volumes } }));
    await createAvailable(deployment(namespace, "right", 1, { extra: { volumes } }));
    const { activities } = operatorActivities();
    await activities.initialize(await createCanary(namespace, "left", canarySpec("left")));
    await activities.initialize(await createCanary(namespace, "right", canarySpec("right")));
    const copy = await admin.get<V1ConfigMap>(RESOURCES.configMaps, namespace, "common-primary");
    assert.deepEqual(copy.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.controller]).sort(), [
      ["Canary", "left", false],
      ["Canary", "right", false],
    ]);
  });

  it("takes as its own a primary it created whose owner reference was never set", async () => {
    await createAvailable(deployment(namespace, "late", 1));
    const target = await createCanary(namespace, "late", canarySpec("late"));
    const { kube, activities } = operatorActivities();
    // What an activity interrupted between the primary's creation and its adoption leaves behind.
    await kube.apply(RESOURCES.deployments, namespace, "late-primary", {
      metadata: { name: "late-primary" },
      spec: {
        selector: { matchLabels: { app: "late-primary" } },
        template: {
          metadata: { labels: { app: "late-primary" } },
          spec: { containers: [{ name: "app", image: "example.test/app:1" }] },
        },
      },
    });
    await activities.initialize(target);
    const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "late-primary");
    assert.deepEqual(
      primary.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.controller]),
      [["Canary", "late", true]],
    );
  });
});
