/**
 * initialize run again over what a lost or reset workflow left in the cluster, as the operator's
 * service account against the real API server and kwok: a promoted primary is kept and its
 * revision reported, the route goes back to 100 % primary before the target is scaled down; a
 * primary whose first version never became ready is re-applied from a new target revision; a
 * promoted primary that is not ready now is waited for, never replaced by an unanalysed revision.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { createKubernetesActivities } from "../../activities/kubernetes.ts";
import { readRevision } from "../../src/kube/configs.ts";
import { REVISION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { neverReadyLabel } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isAvailable,
  operatorActivities,
  operatorClient,
  testNamespace,
  waitForDeployment,
} from "./kube-support.ts";

const namespace = testNamespace("workload-reinit");

async function revisionOf(name: string): Promise<string> {
  const target = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
  return (await readRevision(admin, namespace, target.spec?.template)).revision;
}

async function deploymentOf(name: string): Promise<V1Deployment> {
  return admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
}

interface HttpRoute {
  metadata: { resourceVersion?: string };
  spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
}

/** Every write to the namespace's Deployments and HTTPRoutes, in the API server's order (resourceVersion). */
function recordWrites() {
  const routes: { version: bigint; canaryWeight: number }[] = [];
  const deployments: { version: bigint; name: string; replicas: number }[] = [];
  const stop = new AbortController();
  const version = (o: { metadata?: { resourceVersion?: string } }) =>
    BigInt(o.metadata?.resourceVersion ?? 0);
  const watching = Promise.all([
    admin.watch<HttpRoute>(
      RESOURCES.httpRoutes,
      namespace,
      {},
      (type, route) => {
        if (type !== "MODIFIED") return;
        const weight = route.spec.rules.at(-1)?.backendRefs.find((b) => b.name.endsWith("-canary"))?.weight;
        routes.push({ version: version(route), canaryWeight: weight ?? 0 });
      },
      stop.signal,
    ),
    admin.watch<V1Deployment>(
      RESOURCES.deployments,
      namespace,
      {},
      (type, d) => {
        if (type !== "MODIFIED") return;
        deployments.push({
          version: version(d),
          name: d.metadata?.name ?? "",
          replicas: d.spec?.replicas ?? 0,
        });
      },
      stop.signal,
    ),
  ]);
  return {
    routes,
    deployments,
    stop: async () => {
      stop.abort();
      await watching;
    },
  };
}

describe("initialize again over a cluster mid-rollout", () => {
  it("keeps the promoted primary, routes 100 % to it before scaling the target down", async () => {
    await createAvailable(deployment(namespace, "web", 2, { image: "example.test/app:A" }));
    const revisionA = await revisionOf("web");
    const created = await createCanary(namespace, "web", canarySpec("web"));
    const { activities } = operatorActivities();
    const first = await activities.initialize({ ...created, revision: revisionA });
    assert.equal(first.primaryRevision, revisionA);

    // A rollout of B was under way when the workflow was lost: the canary scaled up, 40 % on it.
    await admin.jsonPatch(RESOURCES.deployments, namespace, "web", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:B" },
    ]);
    const target: Target = { ...created, revision: await revisionOf("web") };
    assert.notEqual(target.revision, revisionA);
    await activities.scaleCanary(target, "desired");
    await waitForDeployment(namespace, "web", (d) => isAvailable(d) && (d.spec?.replicas ?? 0) > 0);
    await activities.setRoutes(target, routeTo(40));
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));

    const writes = recordWrites();
    const again = await activities.initialize(target);
    await waitFor(
      "the watch to see the target scaled down",
      async () => (writes.deployments.some((w) => w.name === "web" && w.replicas === 0) ? true : undefined),
      { timeoutMs: 10_000 },
    );
    await writes.stop();

    assert.equal(again.primaryRevision, revisionA, "the primary's revision, not the target's");
    const primary = await deploymentOf("web-primary");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:A");
    assert.equal(primary.spec?.template.metadata?.annotations?.[REVISION_ANNOTATION], revisionA);
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));
    assert.equal((await deploymentOf("web")).spec?.replicas, 0);
    const routed = writes.routes.find((w) => w.canaryWeight === 0);
    const scaled = writes.deployments.find((w) => w.name === "web" && w.replicas === 0);
    assert.ok(routed, `the route was set to 100/0: ${JSON.stringify(writes.routes, bigints)}`);
    assert.ok(scaled);
    assert.ok(
      routed.version < scaled.version,
      `the route (${routed.version}) was written before the scale-down (${scaled.version})`,
    );
  });

  it("re-applies a primary whose first version never became ready from a new target revision", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "stuck", 1, { image: "example.test/app:broken", neverReady: true }),
    );
    const created = await createCanary(namespace, "stuck", canarySpec("stuck"));
    const broken = await revisionOf("stuck");
    // A short wait, so the first initialization gives up (retryably) as an activity attempt would.
    const kube = operatorClient();
    const impatient = createKubernetesActivities({ kube, readyWaitMs: 2000 });
    await assert.rejects(impatient.initialize({ ...created, revision: broken }), /not ready|still waiting/);
    const stale = await deploymentOf("stuck-primary");
    assert.equal(stale.spec?.template.metadata?.annotations?.[REVISION_ANNOTATION], broken);

    // The user fixes the target: a new revision.
    await admin.jsonPatch(RESOURCES.deployments, namespace, "stuck", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:fixed" },
      { op: "remove", path: `/spec/template/metadata/labels/${neverReadyLabel.replace("/", "~1")}` },
    ]);
    const fixed = await revisionOf("stuck");
    const patient = createKubernetesActivities({ kube, readyWaitMs: 30_000 });
    const result = await patient.initialize({ ...created, revision: fixed });

    assert.equal(result.primaryRevision, fixed);
    const primary = await deploymentOf("stuck-primary");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:fixed");
    assert.equal(primary.spec?.template.metadata?.annotations?.[REVISION_ANNOTATION], fixed);
    assert.ok(isAvailable(primary));
    assert.equal((await deploymentOf("stuck")).spec?.replicas, 0);
  });
});

describe("initialize again over a promoted primary that is not ready", () => {
  it("keeps it, and waits for it, rather than replacing it with an unanalysed revision", async () => {
    await createAvailable(deployment(namespace, "shaky", 1, { image: "example.test/app:A" }));
    const revisionA = await revisionOf("shaky");
    const created = await createCanary(namespace, "shaky", canarySpec("shaky"));
    const kube = operatorClient();
    await createKubernetesActivities({ kube }).initialize({ ...created, revision: revisionA });
    // The workflow recorded the promotion; then the primary's pods stopped being ready.
    await admin.mergePatch(
      RESOURCES.canaries,
      namespace,
      "shaky",
      { status: { lastPromotedSpec: revisionA } },
      "status",
    );
    await admin.mergePatch(RESOURCES.deployments, namespace, "shaky-primary", {
      spec: { template: { metadata: { labels: { [neverReadyLabel]: "true" } } } },
    });
    await waitForDeployment(namespace, "shaky-primary", (d) => !isAvailable(d), "not available");
    await admin.jsonPatch(RESOURCES.deployments, namespace, "shaky", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:B" },
    ]);
    const target: Target = { ...created, revision: await revisionOf("shaky") };

    const impatient = createKubernetesActivities({ kube, readyWaitMs: 2000 });
    await assert.rejects(impatient.initialize(target), /shaky-primary: .*still waiting/);
    const primary = await deploymentOf("shaky-primary");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:A");
    assert.equal(primary.spec?.template.metadata?.annotations?.[REVISION_ANNOTATION], revisionA);
  });
});

function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
