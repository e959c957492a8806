/**
 * Config tracking and promotion against the real API server: a ConfigMap change is a new revision;
 * promote copies the canary's pod template and config contents to the primary (fields removed
 * from the template disappear from the primary too), and running it again changes nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ConfigMap, V1Deployment } from "@kubernetes/client-node";
import { readRevision } from "../../src/kube/configs.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isAvailable,
  isSettled,
  operatorActivities,
  testNamespace,
  waitForDeployment,
} from "./kube-support.ts";

const namespace = testNamespace("workload-promote");

async function revision(): Promise<string> {
  const target = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web");
  return (await readRevision(admin, namespace, target.spec?.template)).revision;
}

describe("config tracking and promote", () => {
  it("a ConfigMap change is a new revision; promote copies template and configs to the primary", async () => {
    await admin.create(RESOURCES.configMaps, namespace, {
      metadata: { name: "web-config" },
      data: { level: "info" },
    });
    const web = deployment(namespace, "web", 2, {
      extra: { volumes: [{ name: "config", configMap: { name: "web-config" } }] },
    });
    const container = web.spec?.template.spec?.containers[0];
    if (container) {
      container.env = [
        { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "web-config", key: "level" } } },
      ];
    }
    await createAvailable(web);
    const target = await createCanary(namespace, "web", canarySpec("web"));
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    const initial = await revision();
    await admin.mergePatch(RESOURCES.configMaps, namespace, "web-config", { data: { level: "debug" } });
    const configChanged = await revision();
    assert.notEqual(configChanged, initial, "a tracked ConfigMap's content is part of the revision");
    await admin.mergePatch(RESOURCES.configMaps, namespace, "web-config", {
      metadata: { labels: { x: "y" } },
    });
    assert.equal(await revision(), configChanged, "its metadata is not");

    // The new version: another image, and LEVEL no longer read from the ConfigMap.
    await admin.jsonPatch(RESOURCES.deployments, namespace, "web", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:2" },
      { op: "remove", path: "/spec/template/spec/containers/0/env" },
    ]);
    const rollout = await revision();
    assert.notEqual(rollout, configChanged);

    await activities.scaleCanary(target, "desired");
    const scaled = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web");
    assert.equal(scaled.spec?.replicas, 2, "scaled back to the primary's replica count");
    await activities.waitCanaryReady(target);

    const promoted = await kube.counter.measure(() => activities.promote(target));
    console.log(`promote: ${promoted.total} API requests ${JSON.stringify(promoted.requests)}`);
    const primary = await waitForDeployment(
      namespace,
      "web-primary",
      isAvailable,
      "rolled out after promotion",
    );
    const podSpec = primary.spec?.template.spec;
    assert.equal(podSpec?.containers[0]?.image, "example.test/app:2");
    assert.equal(podSpec?.containers[0]?.env, undefined, "the removed env var is gone from the primary too");
    assert.equal(podSpec?.volumes?.[0]?.configMap?.name, "web-config-primary");
    assert.equal(primary.spec?.template.metadata?.annotations?.["durable-canary.io/revision"], rollout);
    assert.equal(primary.spec?.selector?.matchLabels?.app, "web-primary");
    const copy = await admin.get<V1ConfigMap>(RESOURCES.configMaps, namespace, "web-config-primary");
    assert.deepEqual(copy.data, { level: "debug" });
    await activities.checkPrimaryReady(target);

    const canary = await admin.get<{ status?: { trackedConfigs?: Record<string, string> } }>(
      RESOURCES.canaries,
      namespace,
      "web",
    );
    assert.ok(canary.status?.trackedConfigs?.["ConfigMap/web-config"]);

    // The deployment controller is still recording the rollout in the primary's status; wait for
    // it, so only writes of ours can change the resourceVersion.
    const before = (await waitForDeployment(namespace, "web-primary", isSettled, "status settled")).metadata
      ?.resourceVersion;
    await activities.promote(target);
    const after = (await admin.get(RESOURCES.deployments, namespace, "web-primary")).metadata
      ?.resourceVersion;
    assert.equal(after, before, "promoting again changes nothing");

    await activities.scaleCanary(target, "zero");
    await activities.scaleCanary(target, "zero");
    assert.equal((await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web")).spec?.replicas, 0);
  });
});
