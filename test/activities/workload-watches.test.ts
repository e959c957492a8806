/**
 * Readiness waits share one watch per kind and namespace (or one across every namespace), against
 * the real API server: many concurrent waits open one watch and each sees readiness that arrives
 * after it started; a wait joining a running watch reads once and opens nothing; cancellation and
 * the progress deadline still end a wait; a watch whose connection drops resumes without losing
 * the change that happened meanwhile.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { ApplicationFailure, CancelledFailure } from "@temporalio/common";
import { shareWorkloadWatches, workloadWatches } from "../../activities/workload-watches.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS, type Target } from "../../workflows/activity-port.ts";
import { worldEnv } from "../harness/world-env.ts";
import {
  activityEnv,
  admin,
  canarySpec,
  deployment,
  isAvailable,
  operatorActivities,
  resolve,
  testNamespace,
  waitForDeployment,
} from "./kube-support.ts";
import { trackOpenWatches } from "./open-watches.ts";

const namespace = testNamespace("workload-watches");
const other = testNamespace("workload-watches-b");

function targetFor(ns: string, name: string, overrides: Parameters<typeof canarySpec>[1] = {}): Target {
  return { ref: { namespace: ns, name }, spec: resolve(canarySpec(name, overrides)) };
}

async function createScaledDown(ns: string, names: readonly string[], neverReady = false): Promise<void> {
  await Promise.all(
    names.map((n) => admin.create(RESOURCES.deployments, ns, deployment(ns, n, 0, { neverReady }))),
  );
}

async function scaleUp(ns: string, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map((n) => admin.mergePatch(RESOURCES.deployments, ns, n, { spec: { replicas: 1 } })),
  );
}

/** Until the shared watch of deployments in `ns` follows changes (at most 5 s). */
async function watchLive(kube: KubeClient, ns: string): Promise<void> {
  const watches = workloadWatches(kube);
  const until = Date.now() + 5000;
  while (watches.epoch(RESOURCES.deployments, ns) === undefined && Date.now() < until) await sleep(20);
}

describe("shared readiness watches", () => {
  it("many concurrent waits open one watch, and each sees readiness that arrives after it started", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    await createScaledDown(namespace, names);
    const { kube, activities } = operatorActivities();
    const watches = trackOpenWatches(kube);
    const measured = kube.counter.measure(() =>
      Promise.all(names.map((n) => activityEnv().run(activities.waitCanaryReady, targetFor(namespace, n)))),
    );
    await watchLive(kube, namespace);
    await sleep(300);
    await scaleUp(namespace, names);
    const { requests } = await measured;
    console.log(`20 waits: ${JSON.stringify(requests)}, watches open at most ${watches.max}`);
    assert.equal(watches.max, 1, "one watch open at a time");
    assert.ok(
      watches.namespaces.every((ns) => ns === namespace),
      "watches of this namespace only",
    );
    assert.equal(requests["list deployments"], 1, "one starting point");
    assert.ok((requests["get deployments"] ?? 0) <= 40, "at most two reads per wait");
    workloadWatches(kube).stop();
  });

  it("a wait that joins a running watch reads once and opens nothing", async () => {
    await createScaledDown(namespace, ["holder"], true);
    await createScaledDown(namespace, ["joiner"]);
    const { kube, activities } = operatorActivities();
    const holderEnv = activityEnv();
    const holder = holderEnv.run(
      activities.waitCanaryReady,
      targetFor(namespace, "holder", { progressDeadlineSeconds: 600 }),
    );
    await watchLive(kube, namespace);
    const joined = kube.counter.measure(() =>
      activityEnv().run(activities.waitCanaryReady, targetFor(namespace, "joiner")),
    );
    await sleep(500);
    await scaleUp(namespace, ["joiner"]);
    const { requests } = await joined;
    assert.deepEqual(requests, { "get deployments": 1 });
    holderEnv.cancel();
    await assert.rejects(holder, (err: unknown) => err instanceof CancelledFailure);
    workloadWatches(kube).stop();
  });

  it("cancellation and the progress deadline still end waits that share the watch", async () => {
    await createScaledDown(namespace, ["stuck", "aborted"], true);
    await createScaledDown(namespace, ["fine"]);
    await admin.mergePatch(RESOURCES.deployments, namespace, "stuck", { spec: { replicas: 1 } });
    const { kube, activities } = operatorActivities();
    const watches = trackOpenWatches(kube);
    const started = performance.now();
    const stuck = activityEnv()
      .run(activities.waitCanaryReady, targetFor(namespace, "stuck", { progressDeadlineSeconds: 3 }))
      .then(
        () => assert.fail("expected the deadline to pass"),
        (err: unknown) => ({ err, ms: performance.now() - started }),
      );
    const abortedEnv = activityEnv();
    const aborted = abortedEnv.run(
      activities.waitCanaryReady,
      targetFor(namespace, "aborted", { progressDeadlineSeconds: 600 }),
    );
    const fine = activityEnv().run(activities.waitCanaryReady, targetFor(namespace, "fine"));
    await watchLive(kube, namespace);
    await sleep(500);
    const cancelledAt = performance.now();
    abortedEnv.cancel();
    await assert.rejects(aborted, (err: unknown) => err instanceof CancelledFailure);
    assert.ok(performance.now() - cancelledAt < 1000, "the cancelled wait ended at once");
    const missed = await stuck;
    assert.ok(missed.err instanceof ApplicationFailure, String(missed.err));
    assert.equal(missed.err.type, NON_RETRYABLE_ERRORS.deadlineExceeded);
    assert.ok(missed.ms >= 2500 && missed.ms < 10_000, `deadline after ${Math.round(missed.ms)} ms`);
    await scaleUp(namespace, ["fine"]);
    await fine;
    assert.equal(watches.max, 1, "the three waits shared one watch");
    workloadWatches(kube).stop();
  });

  it("across namespaces, one watch of every namespace when the operator watches them all", async () => {
    await createScaledDown(namespace, ["wide"]);
    await createScaledDown(other, ["wide"]);
    const { kube, activities } = operatorActivities();
    shareWorkloadWatches(kube, { allNamespaces: true });
    const watches = trackOpenWatches(kube);
    const waits = Promise.all(
      [namespace, other].map((ns) => activityEnv().run(activities.waitCanaryReady, targetFor(ns, "wide"))),
    );
    await sleep(1000);
    await Promise.all([namespace, other].map((ns) => scaleUp(ns, ["wide"])));
    await waits;
    assert.equal(watches.max, 1);
    assert.ok(
      watches.namespaces.every((ns) => ns === undefined),
      "watches of every namespace",
    );
    workloadWatches(kube).stop();
  });
});

/** A TCP relay to the API server whose connections can be cut, as a network failure would. */
async function startRelay(
  target: URL,
): Promise<{ url: string; cut(): void; restore(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

function operatorConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(worldEnv().operatorKubeconfig);
  return config;
}

/** The operator's client, connected through `server`. */
function operatorClientVia(server: string): KubeClient {
  const config = operatorConfig();
  config.loadFromOptions({
    clusters: config.clusters.map((c) => ({ ...c, server })),
    users: config.users,
    contexts: config.contexts,
    currentContext: config.currentContext,
  });
  return new KubeClient(config);
}

describe("a shared watch whose connection drops", () => {
  it("resumes where it stopped: the waits see the change made while it was down", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `dropped-${i}`);
    await createScaledDown(namespace, names);
    const relay = await startRelay(new URL(operatorConfig().getCurrentCluster()?.server ?? ""));
    try {
      const { kube, activities } = operatorActivities(operatorClientVia(relay.url));
      const watches = trackOpenWatches(kube);
      const waits = kube.counter.measure(() =>
        Promise.all(names.map((n) => activityEnv().run(activities.waitCanaryReady, targetFor(namespace, n)))),
      );
      await watchLive(kube, namespace);
      await sleep(300);
      relay.cut();
      // Every change the waits need happens while the watch is down.
      await scaleUp(namespace, names);
      await Promise.all(names.map((n) => waitForDeployment(namespace, n, isAvailable, "available")));
      relay.restore();
      const { requests } = await waits;
      console.log(`after a dropped watch: ${JSON.stringify(requests)}, at most ${watches.max} open`);
      assert.equal(watches.max, 1);
      assert.equal(requests["list deployments"], 1, "resumed from its resourceVersion, not restarted");
      assert.ok((requests["get deployments"] ?? 0) <= 20, "no wait read again after the drop");
      assert.ok((requests["watch deployments"] ?? 0) >= 2, "the watch was resumed");
      workloadWatches(kube).stop();
    } finally {
      relay.close();
    }
  });
});
