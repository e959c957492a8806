/**
 * Kubernetes API benchmark (prints figures, asserts nothing about time): the requests the
 * operator's client makes, as its request counter sees them,
 *  - in the end-to-end rollout of test/activities/workload-rollout.test.ts (the canary workflow
 *    with the real activities), between one weight change of the route and the next;
 *  - for 20 initialized canaries left idle for 60 s.
 * Starts its own test world, unless DC_WORLD_DIR names a running one (`npm run world:up`).
 * Usage: npm run bench:api [-- --canaries 20 --idle-seconds 60]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import type { CanaryWorkflowHandle } from "../test/activities/rollout-support.ts";
import { log, median } from "./figures.ts";
import { openBenchWorld } from "./world.ts";

const { values } = parseArgs({
  options: {
    canaries: { type: "string", default: "20" },
    "idle-seconds": { type: "string", default: "60" },
  },
});
const idleCanaries = Number(values.canaries);
const idleSeconds = Number(values["idle-seconds"]);

const world = await openBenchWorld("api", log);

// The test helpers connect to the world when they are loaded, so only now that it is known.
const { admin, canarySpec, createAvailable, createCanary, deployment, operatorClient } = await import(
  "../test/activities/kube-support.ts"
);
const { CanaryWorker, ROLLOUT, realActivities, recordCanaryWeights, setImage, settled } = await import(
  "../test/activities/rollout-support.ts"
);

Runtime.install({ logger: new DefaultLogger("ERROR") });
const core = admin.api(CoreV1Api);
const rolloutNamespace = `bench-rollout-${process.pid}`;
const idleNamespace = `bench-idle-${process.pid}`;
const kube = operatorClient();
const worker = await CanaryWorker.start(realActivities(kube));
const handles: CanaryWorkflowHandle[] = [];
const stops: (() => Promise<void>)[] = [];
try {
  for (const name of [rolloutNamespace, idleNamespace]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }

  // The rollout: initialized at r1, then r2 goes through each weight to promotion.
  await createAvailable(deployment(rolloutNamespace, "podinfo", 2));
  const target = await createCanary(rolloutNamespace, "podinfo", canarySpec("podinfo", ROLLOUT));
  const first = await worker.sendRevision(target);
  handles.push(first.handle);
  await settled(rolloutNamespace, "podinfo", "Initialized", first.revision);
  const route = recordCanaryWeights(rolloutNamespace, "podinfo", kube);
  stops.push(route.stop);
  // The route's current weight (0), with the count before the new revision, opens the first step.
  while (route.weights.length === 0) await sleep(10);
  await setImage(rolloutNamespace, "podinfo", "example.test/app:2");
  const rollout = await kube.counter.measure(async () => {
    const { revision } = await worker.sendRevision(target);
    await settled(rolloutNamespace, "podinfo", "Succeeded", revision);
    return revision;
  });
  const perStep = route.requestsBetweenChanges();
  const tail = kube.counter.total() - (route.requestsAt.at(-1) ?? 0);
  log(`rollout of ${rollout.result}: canary weights ${route.weights.join(" → ")}`);
  log(`  ${rollout.total} API requests: ${JSON.stringify(rollout.requests)}`);
  log(`  between weight changes: ${perStep.join(", ")}; after the last one until Succeeded: ${tail}`);
  await first.handle.terminate("benchmark: rollout measured");

  // Idle: canaries initialized and then left alone.
  log(`initializing ${idleCanaries} canaries`);
  await Promise.all(
    Array.from({ length: idleCanaries }, async (_, i) => {
      const name = `idle-${String(i).padStart(2, "0")}`;
      await createAvailable(deployment(idleNamespace, name, 1));
      const canary = await createCanary(idleNamespace, name, canarySpec(name, ROLLOUT));
      const { revision, handle } = await worker.sendRevision(canary);
      handles.push(handle);
      await settled(idleNamespace, name, "Initialized", revision, 180_000);
    }),
  );
  log(`${idleCanaries} canaries initialized; idle for ${idleSeconds} s`);
  const idle = await kube.counter.measure(() => sleep(idleSeconds * 1000));
  log(`  ${idle.total} API requests: ${JSON.stringify(idle.requests)}`);

  log(`api_requests_per_step=${median(perStep)}`);
  log(`api_requests_idle_per_min=${(idle.total * 60) / idleSeconds}`);
} finally {
  for (const stop of stops) await stop();
  await Promise.allSettled(handles.map((h) => h.terminate("benchmark done")));
  await worker.close();
  if (!world.own) {
    for (const name of [rolloutNamespace, idleNamespace]) {
      await core.deleteNamespace({ name }).catch(() => undefined);
    }
  }
  await world.close();
}
