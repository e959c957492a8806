/**
 * End to end on the local cluster: the canary workflow on the Temporal dev server, with the real
 * Kubernetes activities (as the operator's service account) and the real analysis activities,
 * rolls a Deployment out from weight 0 through each step to promotion; a second revision whose
 * pods never become ready misses its deadline and is rolled back with traffic on the primary.
 * The revisions are computed and signalled as the controller does.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { RESOURCES } from "../../src/kube/resources.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isAvailable,
  operatorClient,
  testNamespace,
  waitForDeployment,
} from "./kube-support.ts";
import {
  CanaryWorker,
  ROLLOUT,
  realActivities,
  recordCanaryWeights,
  setImage,
  settled,
} from "./rollout-support.ts";

const namespace = testNamespace("workload-rollout");
const kube = operatorClient();
const activities = realActivities(kube);
let worker: CanaryWorker;

before(async () => {
  // Activity failures (a primary still rolling out, the deadline) are expected here; keep the log readable.
  Runtime.install({ logger: new DefaultLogger("ERROR") });
  worker = await CanaryWorker.start(activities);
});

after(async () => {
  await worker.close();
});

describe("a canary rollout with the real activities", () => {
  it("steps through the weights to promotion, then rolls a never-ready revision back", async () => {
    await createAvailable(deployment(namespace, "podinfo", 2));
    const target = await createCanary(namespace, "podinfo", canarySpec("podinfo", ROLLOUT));
    const route = recordCanaryWeights(namespace, "podinfo", kube);

    const { revision: r1, handle } = await worker.sendRevision(target);
    await settled(namespace, "podinfo", "Initialized", r1);
    assert.equal(
      (await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "podinfo")).spec?.replicas,
      0,
    );

    await setImage(namespace, "podinfo", "example.test/app:2");
    const rollout = await kube.counter.measure(async () => {
      const { revision } = await worker.sendRevision(target);
      return { revision, status: await settled(namespace, "podinfo", "Succeeded", revision) };
    });
    const r2 = rollout.result.revision;
    console.log(`rollout of ${r2}: ${rollout.total} API requests ${JSON.stringify(rollout.requests)}`);
    const succeeded = rollout.result.status;
    assert.equal(succeeded.lastPromotedSpec, r2);
    assert.equal(succeeded.conditions?.[0]?.status, "True");
    const primary = await waitForDeployment(namespace, "podinfo-primary", isAvailable, "promoted");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:2");
    assert.equal(
      (await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "podinfo")).spec?.replicas,
      0,
    );
    assert.deepEqual(await activities.getRoutes(target), {
      primaryWeight: 100,
      canaryWeight: 0,
      mirror: false,
    });
    assert.deepEqual(
      route.weights,
      [0, 25, 50, 0],
      "each step's weight, then all traffic back on the promoted primary",
    );
    console.log(`API requests between weight changes: ${route.requestsBetweenChanges().join(", ")}`);

    const idle = await kube.counter.measure(() => new Promise((resolve) => setTimeout(resolve, 3000)));
    assert.equal(idle.total, 0, "an idle canary makes no API requests");

    // A revision whose pods never become ready: rolled back at the progress deadline.
    await admin.jsonPatch(RESOURCES.deployments, namespace, "podinfo", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:3" },
      { op: "add", path: "/spec/template/metadata/labels/durable-canary.test~1never-ready", value: "true" },
    ]);
    const { revision: r3 } = await worker.sendRevision(target);
    const failed = await settled(namespace, "podinfo", "Failed", r3);
    assert.equal(failed.lastPromotedSpec, r2);
    assert.equal(failed.conditions?.[0]?.status, "False");
    assert.match(failed.conditions?.[0]?.message ?? "", /readiness probe failed/);
    assert.deepEqual(await activities.getRoutes(target), {
      primaryWeight: 100,
      canaryWeight: 0,
      mirror: false,
    });
    await waitForDeployment(namespace, "podinfo", (d) => d.spec?.replicas === 0, "scaled to zero");
    const stillPrimary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "podinfo-primary");
    assert.equal(stillPrimary.spec?.template.spec?.containers[0]?.image, "example.test/app:2");

    await route.stop();
    await handle.terminate("test done");
  });
});
