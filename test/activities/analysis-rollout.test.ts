/**
 * End to end on the local cluster with real analysis: the canary workflow with the real
 * activities (as the operator's service account), the gatewayapi:v1 provider and the builtin
 * request-success-rate, which the test world's Prometheus computes from the mesh simulator
 * following the HTTPRoute. The canary progresses while healthy; once its error rate rises, it
 * is rolled back after `threshold` failed checks, and both the Canary's status and the
 * workflow's status query say why with the measured value. The test drives the rollout as an
 * operator would: revisions signalled as the controller does, pause and resume as commands.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { type CanaryStatusView, pauseUpdate, resumeUpdate, statusQuery } from "../../workflows/messages.ts";
import { type MeshSimulator, startMeshSimulator } from "../harness/mesh-simulator.ts";
import { waitFor } from "../harness/process.ts";
import { waitForTargetUp } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";
import {
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorClient,
  testNamespace,
} from "./kube-support.ts";
import {
  CanaryWorker,
  type CanaryWorkflowHandle,
  realActivities,
  routeWeights,
  setImage,
  settled,
} from "./rollout-support.ts";

const world = worldEnv();
const namespace = testNamespace("analysis-rollout");
const threshold = 2;
const by = "analysis-rollout test";

const activities = realActivities(operatorClient());
let worker: CanaryWorker | undefined;
let mesh: MeshSimulator | undefined;

before(async () => {
  // Failed checks are expected here; keep the log readable.
  Runtime.install({ logger: new DefaultLogger("ERROR") });
  worker = await CanaryWorker.start(activities);
  mesh = await startMeshSimulator({
    kubeconfig: world.kubeconfig,
    prometheusTargetsDir: world.prometheusTargetsDir,
    job: `analysis-rollout-${process.pid}`,
    // Traffic follows a weight change within a few tens of milliseconds.
    routePollMs: 50,
    tickMs: 50,
  });
});

after(async () => {
  await mesh?.stop();
  await worker?.close();
});

function until(
  handle: CanaryWorkflowHandle,
  what: string,
  predicate: (s: CanaryStatusView) => boolean,
): Promise<CanaryStatusView> {
  return waitFor(
    what,
    async () => {
      const s = await handle.query(statusQuery);
      if (predicate(s)) return s;
      throw new Error(`phase ${s.phase}, weight ${s.routes.canaryWeight}: ${s.message}`);
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
}

describe("a canary analysed with Prometheus metrics", () => {
  it("progresses while healthy, then is rolled back when its error rate rises", async () => {
    assert.ok(worker && mesh, "started by the before hook");
    await createAvailable(deployment(namespace, "podinfo", 1));
    const target = await createCanary(
      namespace,
      "podinfo",
      canarySpec("podinfo", {
        analysis: {
          interval: "2s",
          threshold,
          stepWeight: 20,
          maxWeight: 80,
          metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "5s" }],
        },
      }),
    );
    const app = mesh.add({ namespace, service: "podinfo", target: "podinfo", router: "httproute", rps: 200 });
    await waitForTargetUp(world.prometheusUrl, mesh.job as string);

    const { revision: r1, handle } = await worker.sendRevision(target);
    await settled(namespace, "podinfo", "Initialized", r1);
    await setImage(namespace, "podinfo", "example.test/app:2");
    const { revision: r2 } = await worker.sendRevision(target);

    // Prometheus has a rate only after two scrapes (1 s apart) of the canary's first requests,
    // but the first check comes an interval after the first step began, so it could find no
    // data: the rollout is paused at the first step until the success rate has a value.
    await until(handle, "the first step", (s) => s.routes.canaryWeight === 20);
    await handle.executeUpdate(pauseUpdate, {
      args: [{ by, reason: "until Prometheus has the canary's success rate" }],
    });
    const paused = await handle.query(statusQuery);
    assert.deepEqual(
      [paused.failedChecks, paused.lastAnalysis.metrics],
      [0, []],
      "no check before the pause",
    );
    await waitFor(
      "a success rate for the canary",
      async () => {
        const [rate] = await activities.runMetrics({ ...target, revision: r2 });
        if (rate?.verdict !== "pass") throw new Error(rate?.message);
        return rate;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    await handle.executeUpdate(resumeUpdate, { args: [{ by, reason: "the success rate has a value" }] });

    const healthy = await until(handle, "a healthy step", (s) => s.routes.canaryWeight === 40);
    assert.equal(healthy.failedChecks, 0);
    assert.deepEqual(
      healthy.lastAnalysis.metrics.map((m) => [m.name, m.verdict, m.message]),
      [["request-success-rate", "pass", "request-success-rate 100.00% >= 99%"]],
    );

    app.set("canary", { errorRate: 0.2 });
    const failed = await settled(namespace, "podinfo", "Failed", r2);
    const view = await handle.query(statusQuery);
    const [measured] = view.lastAnalysis.metrics;
    assert.equal(measured?.verdict, "fail");
    const value = measured?.value;
    assert.ok(value !== undefined && value < 99, `measured ${value}`);
    const cause = `request-success-rate ${value.toFixed(2)}% < 99%`;
    assert.equal(measured?.message, cause);
    assert.equal(view.phase, "Failed");
    assert.equal(view.failedChecks, threshold);
    assert.match(view.message, /request-success-rate \d+\.\d+% < 99%$/);
    assert.ok(
      view.message.endsWith(`${threshold} failed checks reached the threshold: ${cause}`),
      view.message,
    );

    assert.equal(failed.failedChecks, threshold);
    assert.equal(failed.canaryWeight, 0);
    const promoted = failed.conditions?.find((c) => c.type === "Promoted");
    assert.equal(promoted?.status, "False");
    assert.equal(promoted?.reason, "Failed");
    assert.ok(promoted?.message?.includes(cause), promoted?.message);

    assert.deepEqual(await routeWeights(namespace, "podinfo"), { primary: 100, canary: 0 });
    await handle.terminate("test done");
  });
});
