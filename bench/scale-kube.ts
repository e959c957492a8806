/**
 * The Kubernetes side at scale (prints figures, asserts nothing about time): N canaries on the
 * test world (real API server, kwok nodes) driven by the canary workflow with the real activities,
 * as bench/api.ts does for one, all initialized and then all rolled out at once. Prints the most
 * watch requests the worker's client had open at once (`api_watches_open_max=`), and the requests
 * of the rollouts per canary and per weight step.
 * Starts its own test world, unless DC_WORLD_DIR names a running one (`npm run world:up`).
 * Usage: npm run bench:scale-kube [-- --canaries 200 --phase-minutes 10]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import type { CanarySpec, CanaryStatus } from "../src/api/canary.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import { trackOpenWatches } from "../test/activities/open-watches.ts";
import type { CanaryWorkflowHandle } from "../test/activities/rollout-support.ts";
import type { Target } from "../workflows/activity-port.ts";
import { log } from "./figures.ts";
import { openBenchWorld } from "./world.ts";

const { values } = parseArgs({
  options: {
    canaries: { type: "string", default: "200" },
    "phase-minutes": { type: "string", default: "10" },
  },
});
const count = Number(values.canaries);
const phaseMs = Number(values["phase-minutes"]) * 60_000;

/** Two weight steps at a 2 s interval; a deadline no slow machine reaches by itself. */
const ROLLOUT: Partial<CanarySpec> = {
  analysis: { interval: "2s", threshold: 1, stepWeight: 25, maxWeight: 50 },
  progressDeadlineSeconds: 600,
};
const WEIGHT_STEPS = 2;

const world = await openBenchWorld("scale-kube", log);
const { admin, canarySpec, createCanary, deployment, isAvailable, operatorClient } = await import(
  "../test/activities/kube-support.ts"
);
const { CanaryWorker, realActivities, setImage } = await import("../test/activities/rollout-support.ts");

Runtime.install({ logger: new DefaultLogger("ERROR") });
const core = admin.api(CoreV1Api);
const namespace = `bench-scale-kube-${process.pid}`;
const names = Array.from({ length: count }, (_, i) => `app-${String(i).padStart(4, "0")}`);
const kube = operatorClient();
const watches = trackOpenWatches(kube);
const worker = await CanaryWorker.start(realActivities(kube));
const handles = new Map<string, CanaryWorkflowHandle>();

/** Runs `work` on every item, at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Until `done` says every canary got there, printing progress every 10 s; false after phaseMs. */
async function until(what: string, done: () => Promise<number>): Promise<boolean> {
  const started = Date.now();
  let lastLog = started;
  for (;;) {
    const reached = await done();
    if (reached >= count) {
      log(`  ${what}: ${reached}/${count} after ${Math.round((Date.now() - started) / 1000)} s`);
      return true;
    }
    if (Date.now() - started > phaseMs) {
      log(`  ${what}: only ${reached}/${count} after ${phaseMs / 60_000} min; giving up`);
      return false;
    }
    if (Date.now() - lastLog >= 10_000) {
      lastLog = Date.now();
      log(
        `  ${what}: ${reached}/${count} after ${Math.round((lastLog - started) / 1000)} s (watches open ${watches.open})`,
      );
    }
    await sleep(1000);
  }
}

/** How many Canaries show `phase` for the revision each was last sent. */
async function inPhase(phase: string, revisions: ReadonlyMap<string, string>): Promise<number> {
  const list = await admin.list<{ metadata?: { name?: string }; status?: CanaryStatus }>(
    RESOURCES.canaries,
    namespace,
  );
  return list.items.filter(
    (c) => c.status?.phase === phase && c.status.lastAppliedSpec === revisions.get(c.metadata?.name ?? ""),
  ).length;
}

try {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  log(`${count} Deployments in ${namespace}`);
  await eachLimited(names, 20, async (name) => {
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, name, 1));
  });
  const available = await until("available", async () => {
    const list = await admin.list<Parameters<typeof isAvailable>[0]>(RESOURCES.deployments, namespace);
    return list.items.filter(isAvailable).length;
  });

  const targets = new Map<string, Target>();
  const revisions = new Map<string, string>();
  const send = async (name: string) => {
    const target = targets.get(name) as Target;
    const { revision, handle } = await worker.sendRevision(target);
    revisions.set(name, revision);
    handles.set(name, handle);
  };
  let initialized = false;
  if (available) {
    log(`initializing ${count} canaries`);
    const init = await kube.counter.measure(async () => {
      await eachLimited(names, 20, async (name) => {
        targets.set(name, await createCanary(namespace, name, canarySpec(name, ROLLOUT)));
        await send(name);
      });
      return until("initialized", () => inPhase("Initialized", revisions));
    });
    initialized = init.result;
    log(`  ${init.total} API requests, watches open at most ${watches.max}`);
  }

  if (initialized) {
    log(`rolling ${count} canaries out at once (${WEIGHT_STEPS} weight steps each)`);
    await eachLimited(names, 20, (name) => setImage(namespace, name, "example.test/app:2"));
    watches.reset();
    const rollout = await kube.counter.measure(async () => {
      await eachLimited(names, 20, send);
      return until("succeeded", () => inPhase("Succeeded", revisions));
    });
    log(`  ${rollout.total} API requests: ${JSON.stringify(rollout.requests)}`);
    log(`canaries=${count}`);
    log(`api_watches_open_max=${watches.max}`);
    log(`api_watch_requests=${rollout.requests["watch deployments"] ?? 0}`);
    if (rollout.result) {
      log(`api_requests_per_rollout=${(rollout.total / count).toFixed(1)}`);
      // Everything a rollout costs (scale-up, steps, promotion) spread over its weight steps.
      log(`api_requests_per_step=${(rollout.total / (count * WEIGHT_STEPS)).toFixed(1)}`);
    }
  }
} finally {
  await Promise.allSettled([...handles.values()].map((h) => h.terminate("benchmark done")));
  await worker.close();
  if (!world.own) await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await world.close();
}
