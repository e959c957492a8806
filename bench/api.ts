/**
 * Kubernetes API benchmark (prints figures, asserts nothing about time): the requests the
 * operator's client makes, as its request counter sees them,
 *  - in an end-to-end rollout as in test/activities/workload-rollout.test.ts (the canary workflow
 *    with the real activities) of six weight steps: from the first weight increase of the route
 *    to the last, per step (the gap before the first one also scales the canary up);
 *  - for 20 canaries initialized at once and then left idle for 60 s;
 *  - for every traffic provider, the requests its router makes for one weight step (reads and
 *    writes of its routing objects only: `api_requests_per_step_<provider>=`);
 *  - and the most watch requests the client had open at once over the whole run.
 * Starts its own test world, unless DC_WORLD_DIR names a running one (`npm run world:up`).
 * Usage: npm run bench:api [-- --canaries 20 --idle-seconds 60 --providers-only]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import type { CanarySpec } from "../src/api/canary.ts";
import { trackOpenWatches } from "../test/activities/open-watches.ts";
import type { CanaryWorkflowHandle } from "../test/activities/rollout-support.ts";
import { routeTo } from "../workflows/decisions/routes.ts";
import { log } from "./figures.ts";
import { openBenchWorld } from "./world.ts";

const { values } = parseArgs({
  options: {
    canaries: { type: "string", default: "20" },
    "idle-seconds": { type: "string", default: "60" },
    "providers-only": { type: "boolean", default: false },
  },
});
const idleCanaries = Number(values.canaries);
const idleSeconds = Number(values["idle-seconds"]);
const providersOnly = values["providers-only"];

const world = await openBenchWorld("api", log);

/**
 * Six weight steps at a 1 s interval: five steps between the first increase and the last. The
 * deadline leaves a busy machine time to start the canary's pods.
 */
const STEPS: Partial<CanarySpec> = {
  analysis: { interval: "1s", threshold: 1, stepWeight: 10, maxWeight: 60 },
  progressDeadlineSeconds: 60,
};

// The test helpers connect to the world when they are loaded, so only now that it is known.
const { admin, canarySpec, createAvailable, createCanary, deployment, operatorClient } = await import(
  "../test/activities/kube-support.ts"
);
const { CanaryWorker, realActivities, recordCanaryWeights, setImage, settled } = await import(
  "../test/activities/rollout-support.ts"
);

Runtime.install({ logger: new DefaultLogger("ERROR") });
const core = admin.api(CoreV1Api);
const rolloutNamespace = `bench-rollout-${process.pid}`;
const idleNamespace = `bench-idle-${process.pid}`;
const providersNamespace = `bench-providers-${process.pid}`;
const kube = operatorClient();
const watches = trackOpenWatches(kube);
const worker = await CanaryWorker.start(realActivities(kube));
const handles: CanaryWorkflowHandle[] = [];
const stops: (() => Promise<void>)[] = [];

/** The rollout and the idle canaries, measured by the operator's request counter. */
async function rolloutAndIdle(): Promise<void> {
  // The rollout: initialized at r1, then r2 goes through each weight to promotion.
  await createAvailable(deployment(rolloutNamespace, "podinfo", 2));
  const target = await createCanary(rolloutNamespace, "podinfo", canarySpec("podinfo", STEPS));
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
  const gaps = route.requestsBetweenChanges();
  const tail = kube.counter.total() - (route.requestsAt.at(-1) ?? 0);
  const perStep = requestsPerStep(route.weights, route.requestsAt);
  log(`rollout of ${rollout.result}: canary weights ${route.weights.join(" → ")}`);
  log(`  ${rollout.total} API requests: ${JSON.stringify(rollout.requests)}`);
  log(`  between weight changes: ${gaps.join(", ")}; after the last one until Succeeded: ${tail}`);
  await first.handle.terminate("benchmark: rollout measured");

  // Idle: canaries initialized and then left alone.
  log(`initializing ${idleCanaries} canaries`);
  await Promise.all(
    Array.from({ length: idleCanaries }, async (_, i) => {
      const name = `idle-${String(i).padStart(2, "0")}`;
      await createAvailable(deployment(idleNamespace, name, 1));
      const canary = await createCanary(idleNamespace, name, canarySpec(name, STEPS));
      const { revision, handle } = await worker.sendRevision(canary);
      handles.push(handle);
      await settled(idleNamespace, name, "Initialized", revision, 180_000);
    }),
  );
  log(`${idleCanaries} canaries initialized; idle for ${idleSeconds} s`);
  const idle = await kube.counter.measure(() => sleep(idleSeconds * 1000));
  log(`  ${idle.total} API requests: ${JSON.stringify(idle.requests)}`);

  log(`api_requests_per_step=${perStep}`);
  log(`api_requests_idle_per_min=${(idle.total * 60) / idleSeconds}`);
  log(`api_watches_open_max=${watches.max}`);
}

try {
  for (const name of [rolloutNamespace, idleNamespace, providersNamespace]) {
    await core.createNamespace({ body: { metadata: { name } } });
  }

  // Every router: one weight step after the first, on its own routing objects.
  const { providerFixtures } = await import("../test/activities/provider-fixtures.ts");
  const routerSteps: string[] = [];
  for (const fixture of providerFixtures(providersNamespace)) {
    const name = fixture.provider.replace(/[^a-z0-9]/g, "-");
    await createAvailable(deployment(providersNamespace, name, 1));
    const extra = await fixture.prepare(name);
    const target = await createCanary(
      providersNamespace,
      name,
      canarySpec(name, {
        ...extra,
        provider: fixture.provider,
        analysis: fixture.switchOnly ? { interval: "1s", iterations: 2 } : { interval: "1s", stepWeight: 10 },
      }),
    );
    const activities = realActivities(kube);
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(fixture.switchOnly ? 0 : 10));
    const next = routeTo(fixture.switchOnly ? 100 : 20);
    const step = await kube.counter.measure(() => activities.setRoutes(target, next));
    log(`  ${fixture.provider}: ${JSON.stringify(step.requests)}`);
    // Some routing objects are cluster-wide (Kuma's TrafficRoute): gone with the Canary, not its namespace.
    await activities.finalize(target, true);
    routerSteps.push(`api_requests_per_step_${fixture.provider.replace(/[^a-z0-9]/g, "_")}=${step.total}`);
  }

  // Knative routes a Knative Service's own revisions: its router is measured on one directly.
  {
    const { knativeRouter } = await import("../activities/routing/knative.ts");
    const { DEFAULT_WORKLOAD_SETTINGS } = await import("../activities/kubernetes.ts");
    const { applyDefaults } = await import("../src/api/defaults.ts");
    const { createdRevision, knativeService } = await import("../test/activities/knative-support.ts");
    const name = "knative";
    await knativeService(providersNamespace, name);
    const ctx = {
      kube,
      namespace: providersNamespace,
      spec: applyDefaults(
        canarySpec(name, {
          provider: "knative",
          targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name },
        }),
      ),
      revision: undefined,
      settings: DEFAULT_WORKLOAD_SETTINGS,
    };
    const owner = { name, uid: "benchmark" };
    await knativeRouter.reconcile(ctx, owner);
    await createdRevision(providersNamespace, name, `${name}-00002`);
    await knativeRouter.setRoutes(ctx, routeTo(10));
    const step = await kube.counter.measure(() => knativeRouter.setRoutes(ctx, routeTo(20)));
    log(`  knative: ${JSON.stringify(step.requests)}`);
    await knativeRouter.finalize(ctx, owner);
    routerSteps.push(`api_requests_per_step_knative=${step.total}`);
  }

  if (!providersOnly) await rolloutAndIdle();
  for (const line of routerSteps) log(line);
} finally {
  for (const stop of stops) await stop();
  await Promise.allSettled(handles.map((h) => h.terminate("benchmark done")));
  await worker.close();
  if (!world.own) {
    for (const name of [rolloutNamespace, idleNamespace, providersNamespace]) {
      await core.deleteNamespace({ name }).catch(() => undefined);
    }
  }
  await world.close();
}

/**
 * Requests from the route's first weight increase to its last, per step in between: what an
 * ordinary weight step costs, without the canary's scale-up before the first step or the
 * promotion after the last.
 */
function requestsPerStep(weights: readonly number[], requestsAt: readonly number[]): number {
  const increases = weights.flatMap((w, i) => (i > 0 && w > (weights[i - 1] ?? 0) ? [i] : []));
  const first = increases[0];
  const last = increases.at(-1);
  if (first === undefined || last === undefined || last === first) return Number.NaN;
  return ((requestsAt[last] ?? 0) - (requestsAt[first] ?? 0)) / (increases.length - 1);
}
