/**
 * The Kubernetes API server stopped for 30 s in the middle of a rollout, end to end: a cluster of
 * this file's own (the shared one serves other tests), the operator as its own process pointed at
 * it, the world's Temporal. The rollout resumes once the API server is back and finishes with
 * every weight step exactly once, as a user polling the route sees them, and the operator never
 * exits.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import type { CanaryStatus } from "../../src/api/canary.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { canarySpec, deployment, isAvailable } from "../activities/kube-support.ts";
import { type ClusterInfo, restartApiserver, startCluster, stopApiserver } from "../harness/cluster.ts";
import { installCrds, routingCrdFiles } from "../harness/crds.ts";
import { Supervisor, waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";

const dir = mkdtempSync(join(tmpdir(), "durable-canary-apiserver-outage-"));
const supervisor = new Supervisor(dir);
const namespace = `apps-${process.pid}`;
const outageMs = 30_000;
let cluster: ClusterInfo | undefined;
let kube: KubeClient | undefined;
let operator: OperatorProcess | undefined;

before(async () => {
  cluster = await startCluster(supervisor, join(dir, "cluster"));
  const crds = join(import.meta.dirname, "../../deploy/crds");
  await installCrds(cluster.kubeconfig, [...routingCrdFiles, ...readdirSync(crds).map((f) => join(crds, f))]);
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  kube = new KubeClient(config, { fieldManager: "test-user", requestTimeoutMs: 5000 });
  await kube.api(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  operator = await startOperator("apiserver-outage", operatorGroup(), [
    "--kubeconfig",
    cluster.operatorKubeconfig,
    "--namespace",
    namespace,
  ]);
});

after(async () => {
  await operator?.stop("SIGKILL");
  await supervisor.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function status(name: string): Promise<CanaryStatus> {
  assert.ok(kube);
  return (await kube.get<{ status?: CanaryStatus }>(RESOURCES.canaries, namespace, name)).status ?? {};
}

function statusWhere(
  name: string,
  what: string,
  predicate: (s: CanaryStatus) => boolean,
  timeoutMs = 90_000,
) {
  return waitFor(
    `Canary ${name}: ${what}`,
    async () => {
      const s = await status(name);
      if (predicate(s)) return s;
      throw new Error(`phase ${s.phase}, weight ${s.canaryWeight}`);
    },
    { timeoutMs, intervalMs: 200 },
  );
}

interface HttpRoute {
  spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
}

/**
 * Polls the route as a user's script would, recording each change of the canary's weight; the
 * polls that find no API server are counted, not recorded.
 */
function pollCanaryWeights(name: string) {
  assert.ok(kube);
  const client = kube;
  const weights: number[] = [];
  let unanswered = 0;
  let stopped = false;
  const polling = (async () => {
    while (!stopped) {
      try {
        const route = await client.get<HttpRoute>(RESOURCES.httpRoutes, namespace, name);
        const weight = route.spec.rules[0]?.backendRefs.find((b) => b.name === `${name}-canary`)?.weight ?? 0;
        if (weights.at(-1) !== weight) weights.push(weight);
      } catch {
        unanswered++;
      }
      await sleep(100);
    }
  })();
  return {
    weights,
    unanswered: () => unanswered,
    stop: async () => {
      stopped = true;
      await polling;
    },
  };
}

describe("the API server stopped for 30 s mid-rollout", () => {
  it("the rollout resumes and finishes with every weight step once; the operator keeps running", async () => {
    assert.ok(cluster && kube && operator);
    const client = kube;
    await client.create(RESOURCES.deployments, namespace, deployment(namespace, "app", 1));
    await waitFor(
      "the Deployment available",
      async () =>
        isAvailable(await client.get<V1Deployment>(RESOURCES.deployments, namespace, "app"))
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await client.create(RESOURCES.canaries, namespace, {
      metadata: { name: "app", namespace },
      spec: canarySpec("app", { analysis: { interval: "2s", threshold: 2, stepWeight: 10, maxWeight: 50 } }),
    });
    const first = await statusWhere("app", "Initialized", (s) => s.phase === "Initialized");
    const route = pollCanaryWeights("app");
    try {
      await waitFor("the route is read", async () => (route.weights.length > 0 ? true : undefined), {
        timeoutMs: 10_000,
      });
      await client.jsonPatch(RESOURCES.deployments, namespace, "app", [
        { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:2" },
      ]);
      await waitFor("the first step", async () => (route.weights.includes(10) ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 50,
      });

      await stopApiserver(cluster);
      const down = Date.now();
      const heldAt = route.weights.at(-1);
      await sleep(outageMs);
      assert.ok(operator.alive, "the operator exited while the API server was down");
      assert.ok(route.unanswered() > 0, "the route was readable during the outage");
      await restartApiserver(supervisor, cluster);
      const outage = Date.now() - down;

      const done = await statusWhere(
        "app",
        "Succeeded with the new revision",
        (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
        120_000,
      );
      await route.stop();
      assert.ok(outage >= outageMs, `the outage lasted ${outage} ms`);
      assert.ok((heldAt ?? 0) < 50, `the rollout was over (weight ${heldAt}) before the outage`);
      // Every step once, in order: none lost while the API server was away, none repeated after.
      assert.deepEqual(route.weights, [0, 10, 20, 30, 40, 50, 0]);
      assert.equal(done.canaryWeight, 0);
      assert.equal(done.failedChecks, 0, "the outage counted as failed checks");
      const primary = await client.get<V1Deployment>(RESOURCES.deployments, namespace, "app-primary");
      assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:2");
      assert.ok(operator.alive, "the operator exited");
    } finally {
      // Stops the polling when an assertion failed; harmless after the stop above.
      await route.stop();
    }
  });
});
