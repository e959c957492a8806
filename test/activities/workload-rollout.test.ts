/**
 * End to end on the local cluster: the canary workflow on the Temporal dev server, with the real
 * Kubernetes activities (as the operator's service account) and the real analysis activities,
 * rolls a Deployment out from weight 0 through each step to promotion; a second revision whose
 * pods never become ready misses its deadline and is rolled back with traffic on the primary.
 * The revisions are computed and signalled as the controller does.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { Client, Connection } from "@temporalio/client";
import { DefaultLogger, NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { createCanaryActivities } from "../../activities/index.ts";
import type { CanaryStatus } from "../../src/api/canary.ts";
import { readRevision } from "../../src/kube/configs.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { revisionSignal, workflowId } from "../../workflows/messages.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { workflowBundle } from "../workflows/support.ts";
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

const world = worldEnv();
const namespace = testNamespace("workload-rollout");
const taskQueue = `k8s-rollout-${randomUUID()}`;

interface HttpRoute {
  spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
}

const kube = operatorClient();
const activities = createCanaryActivities({
  kube,
  readyWaitMs: 90_000,
  config: {
    metricsServer: world.prometheusUrl,
    metricsQueryTimeoutMs: 5000,
    clusterName: "test",
    globalAlertProvider: undefined,
  },
});
let client: Client;
let connection: Connection;
let workerConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;

before(async () => {
  // Activity failures (a primary still rolling out, the deadline) are expected here; keep the log readable.
  Runtime.install({ logger: new DefaultLogger("ERROR") });
  connection = await Connection.connect({ address: world.temporalAddress });
  client = new Client({ connection, namespace: world.temporalNamespace });
  workerConnection = await NativeConnection.connect({ address: world.temporalAddress });
  worker = await Worker.create({
    connection: workerConnection,
    namespace: world.temporalNamespace,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  running = worker.run();
});

after(async () => {
  worker.shutdown();
  await running;
  await workerConnection.close();
  await connection.close();
});

async function revision(): Promise<string> {
  const target = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "podinfo");
  return (await readRevision(admin, namespace, target.spec?.template)).revision;
}

async function status(): Promise<CanaryStatus> {
  return (await admin.get<{ status?: CanaryStatus }>(RESOURCES.canaries, namespace, "podinfo")).status ?? {};
}

function settled(phase: string, revisionId: string, timeoutMs = 60_000): Promise<CanaryStatus> {
  return waitFor(
    `Canary status ${phase} for ${revisionId}`,
    async () => {
      const s = await status();
      if (s.phase === phase && s.lastAppliedSpec === revisionId) return s;
      throw new Error(`phase ${s.phase} (${s.conditions?.[0]?.message ?? ""})`);
    },
    { timeoutMs, intervalMs: 100 },
  );
}

describe("a canary rollout with the real activities", () => {
  it("steps through the weights to promotion, then rolls a never-ready revision back", async () => {
    await createAvailable(deployment(namespace, "podinfo", 2));
    const target = await createCanary(
      namespace,
      "podinfo",
      canarySpec("podinfo", {
        analysis: { interval: "1s", threshold: 1, stepWeight: 25, maxWeight: 50 },
        progressDeadlineSeconds: 5,
      }),
    );

    // The weights the route goes through, in order, and the operator's request count at each.
    const weights: number[] = [];
    const requestsAt: number[] = [];
    const stop = new AbortController();
    const watching = (async () => {
      while (!stop.signal.aborted) {
        await admin.watch<HttpRoute>(
          RESOURCES.httpRoutes,
          namespace,
          { timeoutSeconds: 20 },
          (type, route) => {
            if (type !== "ADDED" && type !== "MODIFIED") return;
            const weight =
              route.spec.rules[0]?.backendRefs.find((b) => b.name === "podinfo-canary")?.weight ?? 0;
            if (weights.at(-1) !== weight) {
              weights.push(weight);
              requestsAt.push(kube.counter.total());
            }
          },
          stop.signal,
        );
      }
    })();

    const r1 = await revision();
    let generation = 1;
    await client.workflow.signalWithStart("canaryWorkflow", {
      workflowId: workflowId(namespace, "podinfo"),
      taskQueue,
      args: [{ ref: target.ref }],
      signal: revisionSignal,
      signalArgs: [{ revision: r1, spec: target.spec, generation: generation++ }],
    });
    await settled("Initialized", r1);
    assert.equal(
      (await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "podinfo")).spec?.replicas,
      0,
    );

    await admin.jsonPatch(RESOURCES.deployments, namespace, "podinfo", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:2" },
    ]);
    const r2 = await revision();
    const handle = client.workflow.getHandle(workflowId(namespace, "podinfo"));
    const rollout = await kube.counter.measure(async () => {
      await handle.signal(revisionSignal, { revision: r2, spec: target.spec, generation: generation++ });
      return settled("Succeeded", r2);
    });
    console.log(`rollout of ${r2}: ${rollout.total} API requests ${JSON.stringify(rollout.requests)}`);
    const succeeded = rollout.result;
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
      weights,
      [0, 25, 50, 0],
      "each step's weight, then all traffic back on the promoted primary",
    );
    const perStep = requestsAt.slice(1).map((n, i) => n - (requestsAt[i] ?? 0));
    console.log(`API requests between weight changes: ${perStep.join(", ")}`);

    const idle = await kube.counter.measure(() => new Promise((resolve) => setTimeout(resolve, 3000)));
    assert.equal(idle.total, 0, "an idle canary makes no API requests");

    // A revision whose pods never become ready: rolled back at the progress deadline.
    await admin.jsonPatch(RESOURCES.deployments, namespace, "podinfo", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:3" },
      { op: "add", path: "/spec/template/metadata/labels/durable-canary.test~1never-ready", value: "true" },
    ]);
    const r3 = await revision();
    await handle.signal(revisionSignal, { revision: r3, spec: target.spec, generation: generation++ });
    const failed = await settled("Failed", r3);
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

    stop.abort();
    await watching;
    await handle.terminate("test done");
  });
});
