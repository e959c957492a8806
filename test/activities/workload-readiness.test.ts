/**
 * Readiness against the real controllers: waitCanaryReady follows a watch and returns as soon as
 * the canary is ready, heartbeating meanwhile; a canary whose pods never become ready misses its
 * progress deadline with the pods' reasons; cancellation ends the wait at once; ready thresholds
 * count available replicas (here: pods the scheduler cannot place).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { ApplicationFailure, CancelledFailure } from "@temporalio/common";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS, type Target } from "../../workflows/activity-port.ts";
import {
  activityEnv,
  admin,
  canarySpec,
  createAvailable,
  deployment,
  isAvailable,
  operatorActivities,
  resolve,
  testNamespace,
  waitForDeployment,
} from "./kube-support.ts";

const namespace = testNamespace("workload-ready");

function targetFor(name: string, overrides: Parameters<typeof canarySpec>[1] = {}): Target {
  return { ref: { namespace, name }, spec: resolve(canarySpec(name, overrides)) };
}

describe("waitCanaryReady", () => {
  it("returns as soon as a scaled-up canary is ready, following a watch and heartbeating", async () => {
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, "quick", 0));
    const target = targetFor("quick");
    const { kube, activities } = operatorActivities();
    const env = activityEnv();
    let heartbeats = 0;
    env.on("heartbeat", () => heartbeats++);
    const waiting = kube.counter.measure(() => env.run(activities.waitCanaryReady, target));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = performance.now();
    await admin.mergePatch(RESOURCES.deployments, namespace, "quick", { spec: { replicas: 2 } });
    const { requests } = await waiting;
    const tookMs = performance.now() - started;
    console.log(
      `waitCanaryReady: ready ${Math.round(tookMs)} ms after the scale-up, requests ${JSON.stringify(requests)}`,
    );
    assert.ok(tookMs < 10_000);
    assert.ok(isAvailable(await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "quick")));
    // The wait starts the shared watch: its starting point (a list of nothing), and a second read
    // from there; no polling.
    assert.equal(requests["get deployments"], 2, "a read, and one from the watch's starting point");
    assert.ok((requests["watch deployments"] ?? 0) >= 1, "waited with a watch");
    assert.equal(requests["list deployments"], 1, "the shared watch's starting point, no polling");
    assert.ok(heartbeats >= 1, "heartbeats while waiting");

    // Already ready: one read, no watch.
    const again = await kube.counter.measure(() => env.run(activities.waitCanaryReady, target));
    assert.deepEqual(again.requests, { "get deployments": 1 });
  });

  it("a canary that never becomes ready misses its progress deadline, with the pods' reasons", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "stuck", 2, { neverReady: true }),
    );
    const target = targetFor("stuck", { progressDeadlineSeconds: 3 });
    const { activities } = operatorActivities();
    const started = performance.now();
    const err = await activityEnv()
      .run(activities.waitCanaryReady, target)
      .then(
        () => assert.fail("expected the deadline to pass"),
        (e: unknown) => e,
      );
    const tookMs = performance.now() - started;
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, NON_RETRYABLE_ERRORS.deadlineExceeded);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /Deployment .*\/stuck: 0 of 2 replicas available/);
    assert.match(err.message, /progressDeadlineSeconds \(3s\)/);
    assert.match(
      err.message,
      /2 pods \(stuck-.*\): container app running but not ready \(ContainersNotReady: readiness probe failed\)/,
    );
    assert.ok(tookMs >= 2500 && tookMs < 15_000, `took ${tookMs} ms`);
  });

  it("misses at once a deadline the workflow anchored in the past, though the activity just started", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "anchored", 1, { neverReady: true }),
    );
    const progressed = await waitForDeployment(
      namespace,
      "anchored",
      (d) => (d.status?.updatedReplicas ?? 0) === 1,
      "its pod created",
    );
    const lastProgress = progressed.status?.conditions?.find((c) => c.type === "Progressing")?.lastUpdateTime;
    // No progress for longer than the deadline; a fresh activity alone would grant it another 3 s.
    const quietMs = new Date(lastProgress ?? 0).getTime() + 4000 - Date.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(quietMs, 0)));
    const target = targetFor("anchored", { progressDeadlineSeconds: 3 });
    const { activities } = operatorActivities();
    const started = performance.now();
    const err = await activityEnv()
      .run(activities.waitCanaryReady, target, { deadlineAtMs: Date.now() - 1000 })
      .then(
        () => assert.fail("expected the deadline to have passed"),
        (e: unknown) => e,
      );
    const tookMs = performance.now() - started;
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, NON_RETRYABLE_ERRORS.deadlineExceeded);
    assert.ok(tookMs < 1500, `took ${Math.round(tookMs)} ms`);
  });

  it("ends at once when the activity is cancelled (an operator aborted)", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "cancelled", 1, { neverReady: true }),
    );
    const target = targetFor("cancelled", { progressDeadlineSeconds: 600 });
    const { activities } = operatorActivities();
    const env = activityEnv();
    const waiting = env.run(activities.waitCanaryReady, target);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const cancelledAt = performance.now();
    env.cancel();
    await assert.rejects(waiting, (err: unknown) => err instanceof CancelledFailure);
    // Far sooner than the 600s progress deadline it would otherwise wait for.
    assert.ok(performance.now() - cancelledAt < 5000, "the wait ended within seconds");
  });
});

describe("ready thresholds", () => {
  it("count available replicas against canaryReadyThreshold and primaryReadyThreshold", async () => {
    // The fake node has 64 CPUs: three of four 20-CPU pods fit, the fourth stays unschedulable.
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, "hungry", 4, { cpu: "20" }));
    await waitForDeployment(
      namespace,
      "hungry",
      (d) => (d.status?.availableReplicas ?? 0) === 3,
      "3 available",
    );
    const { activities } = operatorActivities();

    await activityEnv().run(
      activities.waitCanaryReady,
      targetFor("hungry", { analysis: { interval: "1s", stepWeight: 20, canaryReadyThreshold: 75 } }),
    );

    const err = await activityEnv()
      .run(activities.waitCanaryReady, targetFor("hungry", { progressDeadlineSeconds: 1 }))
      .then(
        () => assert.fail("100% of 4 replicas cannot be available"),
        (e: unknown) => e as Error,
      );
    assert.match(err.message, /3 of 4 replicas available, 4 needed \(threshold 100%\)/);
    assert.match(err.message, /pod hungry-.*: unschedulable: .*Insufficient cpu/);
    await admin.delete(RESOURCES.deployments, namespace, "hungry");
  });

  it("primaryReadiness answers not ready, with the reason, without throwing", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "slow-primary", 2, { neverReady: true }),
    );
    await waitForDeployment(
      namespace,
      "slow-primary",
      (d) => (d.status?.updatedReplicas ?? 0) === 2,
      "rolled out",
    );
    const { activities } = operatorActivities();
    const report = await activities.primaryReadiness(targetFor("slow"));
    assert.equal(report.ready, false);
    assert.match(
      report.message,
      /Deployment .*\/slow-primary: 0 of 2 replicas available, 2 needed \(threshold 100%\)/,
    );

    const missing = await activities.primaryReadiness(targetFor("absent"));
    assert.equal(missing.ready, false);
    assert.match(missing.message, /Deployment .*\/absent-primary \(the primary\) not found/);

    await createAvailable(deployment(namespace, "quick-primary", 1));
    assert.deepEqual(await activities.primaryReadiness(targetFor("quick")), {
      ready: true,
      message: "the primary is ready",
    });
  });

  it("stepReadiness reads the canary and the primary in one call, without waiting or throwing", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "lagging", 2, { neverReady: true }),
    );
    await waitForDeployment(
      namespace,
      "lagging",
      (d) => (d.status?.updatedReplicas ?? 0) === 2,
      "rolled out",
    );
    await createAvailable(deployment(namespace, "lagging-primary", 1));
    await createAvailable(deployment(namespace, "steady", 1));
    await createAvailable(deployment(namespace, "steady-primary", 1));
    const { kube, activities } = operatorActivities();

    const lagging = await activities.stepReadiness(targetFor("lagging"));
    assert.equal(lagging.canary.ready, false);
    assert.match(lagging.canary.message, /Deployment .*\/lagging: 0 of 2 replicas available/);
    assert.deepEqual(lagging.primary, { ready: true, message: "the primary is ready" });

    const steady = await kube.counter.measure(() => activities.stepReadiness(targetFor("steady")));
    assert.deepEqual(steady.result, {
      canary: { ready: true, message: "the canary is ready" },
      primary: { ready: true, message: "the primary is ready" },
    });
    assert.deepEqual(steady.requests, { "get deployments": 2 }, "one read of each, no watch");

    const absent = await activities.stepReadiness(targetFor("nowhere"));
    assert.equal(absent.canary.ready, false);
    assert.match(absent.canary.message, /Deployment .*\/nowhere not found/);
    assert.match(absent.primary.message, /nowhere-primary \(the primary\) not found/);
  });

  it("checkPrimaryReady fails retryably below primaryReadyThreshold", async () => {
    await admin.create(
      RESOURCES.deployments,
      namespace,
      deployment(namespace, "half-primary", 2, { neverReady: true }),
    );
    await waitForDeployment(
      namespace,
      "half-primary",
      (d) => (d.status?.updatedReplicas ?? 0) === 2,
      "rolled out",
    );
    const { activities } = operatorActivities();
    const target: Target = {
      ref: { namespace, name: "half" },
      spec: resolve(
        canarySpec("half", { analysis: { interval: "1s", stepWeight: 20, primaryReadyThreshold: 50 } }),
      ),
    };
    const err = await activities.checkPrimaryReady(target).then(
      () => assert.fail("the primary is not ready"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, false);
    assert.match(
      err.message,
      /primary is not ready: Deployment .*\/half-primary: 0 of 2 replicas available, 1 needed \(threshold 50%\)/,
    );

    await createAvailable(deployment(namespace, "fine-primary", 2));
    await activities.checkPrimaryReady({
      ...target,
      ref: { namespace, name: "fine" },
      spec: resolve(canarySpec("fine")),
    });
  });
});
