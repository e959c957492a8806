/**
 * Taking over Canaries Flagger initialized: the test writes every object as Flagger leaves it
 * (the target scaled to zero, the `-primary` Deployment and its config copy owned by the Canary,
 * the three Services, the HTTPRoute, Flagger's status), then runs initialize as the operator's
 * service account. Adopted Canaries cost no write to the primary, the route, the Services or the
 * target; one Flagger left mid-rollout gets its traffic back on the primary and its canary scaled
 * down, and the revision is reported rolled back instead of rolled out again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import { FLAGGER_PROMOTED, flaggerLeaves, versions as versionsIn } from "./flagger-scene.ts";
import { admin, operatorActivities, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("flagger-takeover");

const versions = (name: string) => versionsIn(namespace, name);

function writes(requests: Record<string, number>): string[] {
  return Object.keys(requests).filter((key) => !/^(get|list|watch) /.test(key));
}

describe("taking over from Flagger", () => {
  it("adopts a promoted Canary at the target's revision without a single write", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "web",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:1",
      phase: "Succeeded",
      canaryWeight: 0,
    });
    const before = await versions("web");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    console.log(`takeover: ${JSON.stringify(requests)}`);
    assert.deepEqual(result, { primaryRevision: target.revision });
    assert.deepEqual(writes(requests), [], "initialize wrote nothing");
    assert.deepEqual(await versions("web"), before, "no object changed");

    // Flagger's tooling reads these fields: initialize leaves them as Flagger wrote them.
    const canary = await admin.get<{ status?: Record<string, unknown> }>(
      RESOURCES.canaries,
      namespace,
      "web",
    );
    assert.equal(canary.status?.phase, "Succeeded");
    assert.equal(canary.status?.lastPromotedSpec, FLAGGER_PROMOTED);

    // The next change of the target is promoted as ours, over Flagger's primary.
    await admin.mergePatch(RESOURCES.deployments, namespace, "web", {
      spec: { template: { spec: { containers: [{ name: "app", image: "example.test/app:2" }] } } },
    });
    await activities.promote(target);
    const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web-primary");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:2");
    assert.equal(
      primary.spec?.template.spec?.containers[0]?.env?.[0]?.valueFrom?.configMapKeyRef?.name,
      "web-config-primary",
    );
    assert.match(
      primary.spec?.template.metadata?.annotations?.["durable-canary.io/revision"] ?? "",
      /^[0-9a-f]{16}$/,
    );
    assert.equal(primary.metadata?.ownerReferences?.length, 1, "still owned by the Canary alone");
  });

  it("reports a target Flagger never rolled out as a new revision, still without a write", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "api",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:2",
      phase: "Succeeded",
      canaryWeight: 0,
    });
    const before = await versions("api");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    assert.deepEqual(result, { primaryRevision: FLAGGER_PROMOTED }, "the primary runs what Flagger promoted");
    assert.notEqual(result.primaryRevision, target.revision, "so the workflow rolls the target out");
    assert.deepEqual(writes(requests), []);
    assert.deepEqual(await versions("api"), before);
  });

  it("keeps a revision Flagger rolled back failed, without a write", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "failed",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:2",
      phase: "Failed",
      canaryWeight: 0,
    });
    const before = await versions("failed");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    assert.equal(result.primaryRevision, FLAGGER_PROMOTED);
    assert.equal(result.rolledBack?.revision, target.revision);
    assert.match(result.rolledBack?.reason ?? "", /Flagger had rolled this revision back/);
    assert.deepEqual(writes(requests), []);
    assert.deepEqual(await versions("failed"), before);
  });

  it("rolls back a Canary Flagger left mid-rollout: primary untouched, traffic back, canary scaled down", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "mid",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:2",
      phase: "Progressing",
      canaryWeight: 30,
    });
    const before = await versions("mid");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    console.log(`mid-rollout takeover: ${JSON.stringify(requests)}`);
    assert.equal(result.primaryRevision, FLAGGER_PROMOTED);
    assert.equal(result.rolledBack?.revision, target.revision);
    assert.match(result.rolledBack?.reason ?? "", /taken over from Flagger mid-rollout/);
    assert.deepEqual(await activities.getRoutes(target), {
      primaryWeight: 100,
      canaryWeight: 0,
      mirror: false,
    });
    const after = await versions("mid");
    assert.equal(after.primary, before.primary, "the primary was not touched");
    for (const key of ["apex", "primaryService", "canaryService", "configCopy"] as const)
      assert.equal(after[key], before[key], `${key} was not touched`);
    const scaled = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "mid");
    assert.equal(scaled.spec?.replicas, 0, "the canary is scaled to zero");
    assert.deepEqual(writes(requests).sort(), ["patch deployments", "patch httproutes"]);
    assert.equal(requests["patch deployments"], 1, "only the target's scale-down");
    assert.equal(requests["patch httproutes"], 1, "only the route back to the primary");
  });
});
