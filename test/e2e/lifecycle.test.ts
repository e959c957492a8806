/**
 * End to end, the life of a Canary beside its rollouts: a spec error shown in status at once
 * and recovered from by fixing it, suspend, deletion in every order (with and without revert,
 * target first), and config tracking turned off.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { setImage } from "../activities/rollout-support.ts";
import { waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { canaryStatus, gone, promoted, statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-lifecycle");
const untracked = testNamespace("e2e-untracked");
let operator: OperatorProcess | undefined;
let withoutTracking: OperatorProcess | undefined;

before(async () => {
  [operator, withoutTracking] = await Promise.all([
    startOperator("lifecycle", operatorGroup(), ["--namespace", namespace]),
    startOperator("untracked", operatorGroup(), ["--namespace", untracked, "--enable-config-tracking=false"]),
  ]);
});

after(async () => {
  await Promise.all([operator?.stop(), withoutTracking?.stop()]);
});

async function createCanaryObject(ns: string, name: string, spec: object): Promise<void> {
  await admin.create(RESOURCES.canaries, ns, { metadata: { name, namespace: ns }, spec });
}

const quick = { provider: "kubernetes", analysis: { interval: "1s", threshold: 2, iterations: 3 } } as const;

describe("the life of a Canary", { concurrency: true }, () => {
  it("an invalid spec is explained in status within a second; fixing it starts the canary", async () => {
    const name = "invalid";
    await createAvailable(deployment(namespace, name, 1));
    const created = Date.now();
    await createCanaryObject(
      namespace,
      name,
      canarySpec(name, { ...quick, analysis: { interval: "soon", iterations: 3 } }),
    );
    const shown = await statusWhere(
      namespace,
      name,
      "the spec error",
      (s) => promoted(s)?.reason === "InvalidSpec",
      10_000,
    );
    const tookMs = Date.now() - created;
    assert.ok(tookMs < 1000, `shown after ${tookMs} ms`);
    assert.equal(shown.phase, "Failed");
    assert.equal(promoted(shown)?.status, "False");
    assert.match(promoted(shown)?.message ?? "", /analysis\.interval must be a duration/);
    await waitFor(
      "a Warning Event that names the problem",
      async () => {
        const events = await admin.list<{
          reason?: string;
          type?: string;
          involvedObject?: { name?: string };
        }>(RESOURCES.events, namespace);
        return events.items.some(
          (e) => e.involvedObject?.name === name && e.reason === "InvalidSpec" && e.type === "Warning",
        )
          ? true
          : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    await admin.mergePatch(RESOURCES.canaries, namespace, name, { spec: { analysis: { interval: "1s" } } });
    const fixed = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    assert.equal(promoted(fixed)?.status, "True");
  });

  it("a missing target is explained, and the Canary starts once the target exists", async () => {
    const name = "later";
    await createCanaryObject(namespace, name, canarySpec(name, quick));
    const shown = await statusWhere(
      namespace,
      name,
      "target not found",
      (s) => promoted(s)?.reason === "TargetNotFound",
    );
    assert.match(promoted(shown)?.message ?? "", /Deployment .*later .*not found/);
    await createAvailable(deployment(namespace, name, 1));
    await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
  });

  it("a target deleted under an initialized Canary is shown; recreated, the workflow's status is back", async () => {
    const name = "recreated";
    await createAvailable(deployment(namespace, name, 1));
    await createCanaryObject(namespace, name, canarySpec(name, quick));
    const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    await admin.delete(RESOURCES.deployments, namespace, name);
    await statusWhere(namespace, name, "target not found", (s) => promoted(s)?.reason === "TargetNotFound");
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, name, 0));
    const back = await statusWhere(namespace, name, "Initialized again", (s) => s.phase === "Initialized");
    assert.equal(back.lastPromotedSpec, first.lastPromotedSpec);
    assert.equal(promoted(back)?.status, "True");
  });

  it("suspend freezes a progressing canary; unsuspended, it finishes", async () => {
    const name = "frozen";
    await createAvailable(deployment(namespace, name, 1));
    await createCanaryObject(
      namespace,
      name,
      canarySpec(name, { provider: "kubernetes", analysis: { interval: "1s", threshold: 2, iterations: 6 } }),
    );
    const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    await setImage(namespace, name, "example.test/app:2");
    await statusWhere(
      namespace,
      name,
      "analysing",
      (s) => s.phase === "Progressing" && (s.iterations ?? 0) >= 1,
    );
    await admin.mergePatch(RESOURCES.canaries, namespace, name, { spec: { suspend: true } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const frozen = await canaryStatus(namespace, name);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const later = await canaryStatus(namespace, name);
    assert.equal(later.phase, "Progressing");
    assert.equal(later.iterations, frozen.iterations, "no analysis ran while suspended");
    await admin.mergePatch(RESOURCES.canaries, namespace, name, { spec: { suspend: false } });
    await statusWhere(
      namespace,
      name,
      "Succeeded",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
    );
  });

  for (const revert of [false, true]) {
    it(`deleted ${revert ? "with" : "without"} revertOnDeletion, the Canary is gone within 30 s`, async () => {
      const name = revert ? "revert" : "plain";
      await createAvailable(deployment(namespace, name, 2));
      await createCanaryObject(namespace, name, { ...canarySpec(name, quick), revertOnDeletion: revert });
      await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
      await admin.delete(RESOURCES.canaries, namespace, name);
      await gone(namespace, name);
      if (revert) {
        const target = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
        assert.equal(target.spec?.replicas, 2, "the target is scaled back up");
      }
    });
  }

  it("deleted after its target, with revertOnDeletion, the Canary is gone within 30 s", async () => {
    const name = "orphan";
    await createAvailable(deployment(namespace, name, 1));
    await createCanaryObject(namespace, name, { ...canarySpec(name, quick), revertOnDeletion: true });
    await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    await admin.delete(RESOURCES.deployments, namespace, name);
    await admin.delete(RESOURCES.canaries, namespace, name);
    await gone(namespace, name);
  });

  it("with --enable-config-tracking=false a ConfigMap change starts no rollout", async () => {
    const name = "untracked";
    await admin.create(RESOURCES.configMaps, untracked, {
      metadata: { name: "settings" },
      data: { level: "1" },
    });
    await createAvailable(
      deployment(untracked, name, 1, {
        extra: { volumes: [{ name: "s", configMap: { name: "settings" } }] },
      }),
    );
    await createCanaryObject(untracked, name, canarySpec(name, quick));
    const first = await statusWhere(untracked, name, "Initialized", (s) => s.phase === "Initialized");
    assert.equal(await admin.find(RESOURCES.configMaps, untracked, "settings-primary"), undefined, "no copy");
    await admin.mergePatch(RESOURCES.configMaps, untracked, "settings", { data: { level: "2" } });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const later = await canaryStatus(untracked, name);
    assert.equal(later.phase, "Initialized");
    assert.equal(later.lastAppliedSpec, first.lastAppliedSpec);
    // An image change still does.
    await setImage(untracked, name, "example.test/app:2");
    await waitFor(
      "a rollout of the new image",
      async () => ((await canaryStatus(untracked, name)).phase === "Succeeded" ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });
});
