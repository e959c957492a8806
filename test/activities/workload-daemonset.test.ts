/**
 * A DaemonSet target: the primary is a DaemonSet; "zero replicas" is a node selector no node
 * matches, which scaling up removes and which never reaches the primary.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1DaemonSet, V1Pod } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import { waitFor } from "../harness/process.ts";
import {
  activityEnv,
  admin,
  canarySpec,
  createCanary,
  daemonSet,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("workload-ds");

async function pods(app: string): Promise<V1Pod[]> {
  return (await admin.list<V1Pod>(RESOURCES.pods, namespace, { labelSelector: `app=${app}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
}

describe("DaemonSet target", () => {
  it("initializes, scales down by node selector, scales up, promotes", async () => {
    await admin.create(RESOURCES.daemonSets, namespace, daemonSet(namespace, "agent"));
    await waitFor("agent pod", async () => ((await pods("agent")).length === 1 ? true : undefined), {
      timeoutMs: 30_000,
    });
    const target = await createCanary(
      namespace,
      "agent",
      canarySpec("agent", {
        provider: "kubernetes",
        targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" },
        analysis: { interval: "1s", iterations: 2 },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.initialize(target);

    const primary = await admin.get<V1DaemonSet>(RESOURCES.daemonSets, namespace, "agent-primary");
    assert.deepEqual(primary.spec?.selector?.matchLabels, { app: "agent-primary" });
    assert.equal(primary.status?.numberAvailable, 1, "the primary runs on the node");
    const agent = await admin.get<V1DaemonSet>(RESOURCES.daemonSets, namespace, "agent");
    assert.deepEqual(agent.spec?.template.spec?.nodeSelector, { "durable-canary.io/scale-to-zero": "true" });
    await waitFor(
      "the target's pod to go",
      async () => ((await pods("agent")).length === 0 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );

    await activities.scaleCanary(target, "desired");
    await activityEnv().run(activities.waitCanaryReady, target);
    assert.equal((await pods("agent")).length, 1);

    await admin.jsonPatch(RESOURCES.daemonSets, namespace, "agent", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/agent:2" },
    ]);
    await activityEnv().run(activities.waitCanaryReady, target);
    await activities.promote(target);
    const promoted = await admin.get<V1DaemonSet>(RESOURCES.daemonSets, namespace, "agent-primary");
    assert.equal(promoted.spec?.template.spec?.containers[0]?.image, "example.test/agent:2");
    assert.equal(
      promoted.spec?.template.spec?.nodeSelector,
      undefined,
      "the scale-to-zero selector is never copied",
    );
    await waitFor(
      "the primary to roll out",
      async () => {
        try {
          await activities.checkPrimaryReady(target);
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 30_000 },
    );

    await activities.scaleCanary(target, "zero");
    await waitFor(
      "the target's pod to go",
      async () => ((await pods("agent")).length === 0 ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
  });
});
