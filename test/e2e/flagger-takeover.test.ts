/**
 * End to end, a migration as a user does it: Flagger's objects and statuses are in the cluster
 * (written by the test as Flagger leaves them), then the operator starts. A Canary Flagger had
 * promoted is Initialized with nothing written to its primary, route, Services or target, and
 * its next image rolls out; one Flagger left mid-rollout is rolled back to the primary and Failed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { FLAGGER_PROMOTED, flaggerLeaves, versions } from "../activities/flagger-scene.ts";
import { admin, testNamespace } from "../activities/kube-support.ts";
import { routeWeights, setImage } from "../activities/rollout-support.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { canaryStatus, promoted, statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-flagger");
let operator: OperatorProcess | undefined;
let adopted: Target;
let mid: Target;
let seen: Record<string, Record<string, string | undefined>>;

before(async () => {
  const scene = { namespace, primaryImage: "example.test/app:1" };
  adopted = await flaggerLeaves({
    ...scene,
    name: "adopted",
    targetImage: "example.test/app:1",
    phase: "Succeeded",
    canaryWeight: 0,
  });
  mid = await flaggerLeaves({
    ...scene,
    name: "mid",
    targetImage: "example.test/app:2",
    phase: "Progressing",
    canaryWeight: 30,
  });
  seen = { adopted: await versions(namespace, "adopted"), mid: await versions(namespace, "mid") };
  operator = await startOperator("flagger-takeover", operatorGroup(), ["--namespace", namespace]);
});

after(async () => {
  await operator?.stop();
});

describe("taking over a live Flagger installation", { concurrency: true }, () => {
  it("a promoted Canary is adopted without a write, then rolls out its next image", async () => {
    const initialized = await statusWhere(
      namespace,
      "adopted",
      "Initialized",
      (s) => s.phase === "Initialized",
    );
    assert.equal(initialized.lastAppliedSpec, adopted.revision, "adopted at the target's revision");
    assert.equal(promoted(initialized)?.status, "True");
    assert.equal(initialized.canaryWeight, 0);
    assert.ok(initialized.lastTransitionTime);
    // A controller resync or a late write would show here: give them time to happen.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.deepEqual(await versions(namespace, "adopted"), seen.adopted, "nothing was written");
    assert.equal((await canaryStatus(namespace, "adopted")).phase, "Initialized", "no rollout started");

    await setImage(namespace, "adopted", "example.test/app:2");
    await statusWhere(
      namespace,
      "adopted",
      "Succeeded with the new image",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== initialized.lastPromotedSpec,
    );
    const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "adopted-primary");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:2");
  });

  it("a Canary left mid-rollout is rolled back to its untouched primary and Failed", async () => {
    const failed = await statusWhere(namespace, "mid", "Failed", (s) => s.phase === "Failed");
    assert.match(promoted(failed)?.message ?? "", /taken over from Flagger mid-rollout/);
    assert.equal(failed.lastAppliedSpec, mid.revision);
    assert.equal(failed.lastPromotedSpec, FLAGGER_PROMOTED, "the primary still runs what Flagger promoted");
    assert.equal(failed.canaryWeight, 0);
    assert.deepEqual(await routeWeights(namespace, "mid"), { primary: 100, canary: 0 });
    const target = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "mid");
    assert.equal(target.spec?.replicas, 0, "the canary is scaled down");
    const now = await versions(namespace, "mid");
    assert.equal(now.primary, seen.mid?.primary, "the primary was not touched");
  });
});
