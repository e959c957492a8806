/**
 * Controller benchmark (prints figures, asserts nothing about time), with the real operator
 * process on the test world, driven only through the Kubernetes API:
 *  - init: from creating a Canary (its Deployment already available) to status Initialized;
 *  - revision reaction: from a Deployment's image update to the first change of its canary's
 *    route, at `interval: 1m` so the figure shows reaction, not the interval;
 *  - the controller's Kubernetes requests per minute with idle canaries (from its
 *    durable_canary_kube_requests_total; watch streams and the Lease renewals are apart);
 *  - failover at the default lease duration: a standby replica leads after the leader is
 *    stopped (SIGTERM: the Lease is handed over) or killed (SIGKILL: the Lease expires).
 * Starts its own test world, unless DC_WORLD_DIR names a running one (`npm run world:up`).
 * Usage: npm run bench:controller [-- --init 20 --reactions 30 --idle 100 --idle-seconds 60]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { log, median, percentile } from "./figures.ts";
import { openBenchWorld } from "./world.ts";

const { values } = parseArgs({
  options: {
    init: { type: "string", default: "20" },
    reactions: { type: "string", default: "30" },
    idle: { type: "string", default: "100" },
    "idle-seconds": { type: "string", default: "60" },
  },
});
const world = await openBenchWorld("controller", log);
const { admin, canarySpec, createAvailable, deployment } = await import("../test/activities/kube-support.ts");
const { recordCanaryWeights, setImage } = await import("../test/activities/rollout-support.ts");
const { operatorGroup, startOperator } = await import("../test/e2e/operator.ts");
const { RESOURCES } = await import("../src/kube/resources.ts");

const namespace = `bench-controller-${process.pid}`;
const core = admin.api(CoreV1Api);
await core.createNamespace({ body: { metadata: { name: namespace } } });
// The default lease duration, so the Lease renewals counted are those of a real install.
const group = operatorGroup();
const args = ["--namespace", namespace, "--lease-duration", "15s"];
let operator = await startOperator("bench-controller", group, args);

async function phase(name: string): Promise<string | undefined> {
  return (await admin.get<{ status?: { phase?: string } }>(RESOURCES.canaries, namespace, name)).status
    ?.phase;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function createCanary(name: string, provider: "gatewayapi:v1" | "kubernetes"): Promise<void> {
  const spec = canarySpec(name, {
    provider,
    analysis:
      provider === "kubernetes"
        ? { interval: "1m", threshold: 2, iterations: 1 }
        : { interval: "1m", threshold: 2, stepWeight: 20, maxWeight: 60 },
  });
  await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
}

async function metricSum(prefix: string, filter: (labels: string) => boolean): Promise<number> {
  const text = (await operator.get("/metrics")).body;
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (match?.[1] === prefix && filter(match[2] ?? "")) sum += Number(match[3]);
  }
  return sum;
}

try {
  const reactionsWanted = Number(values.reactions);
  const initTrials = Math.max(Number(values.init), reactionsWanted);
  const initMs: number[] = [];
  for (let i = 0; i < initTrials; i++) {
    const name = `app-${i}`;
    await createAvailable(deployment(namespace, name, 1));
    const started = performance.now();
    await createCanary(name, "gatewayapi:v1");
    await until(`${name} Initialized`, async () => (await phase(name)) === "Initialized");
    if (i < Number(values.init)) initMs.push(performance.now() - started);
  }
  log(`init: ${initMs.map((m) => Math.round(m)).join(" ")} ms`);

  const reactionMs: number[] = [];
  for (let i = 0; i < reactionsWanted; i++) {
    const name = `app-${i}`;
    const route = recordCanaryWeights(namespace, name, admin);
    await until("the route is watched", async () => route.weights.length > 0);
    const started = performance.now();
    await setImage(namespace, name, "example.test/app:2");
    await until(`${name}'s first route change`, async () => route.weights.length > 1);
    reactionMs.push(performance.now() - started);
    await route.stop();
  }
  log(`revision reaction: ${reactionMs.map((m) => Math.round(m)).join(" ")} ms`);

  const idle = Number(values.idle);
  for (let i = 0; i < idle; i++) {
    const name = `idle-${i}`;
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, name, 1));
    await createCanary(name, "kubernetes");
  }
  await until(
    `${idle} idle canaries Initialized`,
    async () => {
      const list = await admin.list<{ status?: { phase?: string } }>(RESOURCES.canaries, namespace);
      return (
        list.items.filter((c) => c.status?.phase === "Initialized").length >=
        idle + initTrials - reactionsWanted
      );
    },
    600_000,
  );
  // Let the last status writes and their watch events settle before counting.
  await sleep(5000);
  const notLease = (labels: string) => !labels.includes('resource="leases"');
  const isLease = (labels: string) => labels.includes('resource="leases"');
  const before = await metricSum("durable_canary_kube_requests_total", notLease);
  const leaseBefore = await metricSum("durable_canary_kube_requests_total", isLease);
  const seconds = Number(values["idle-seconds"]);
  await sleep(seconds * 1000);
  const idleRequests = (await metricSum("durable_canary_kube_requests_total", notLease)) - before;
  const leaseRequests = (await metricSum("durable_canary_kube_requests_total", isLease)) - leaseBefore;

  const sorted = [...reactionMs].sort((a, b) => a - b);
  // Failover: a standby takes over from a leader that stops, then from one that is killed.
  const failover: Record<string, number> = {};
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const standby = await startOperator(`bench-controller-standby-${signal}`, group, args);
    const stopped = performance.now();
    await operator.stop(signal);
    await standby.waitForLog('"controller started"', 60_000);
    failover[signal] = performance.now() - stopped;
    operator = standby;
  }
  log(`failover_sigterm_ms=${Math.round(failover.SIGTERM ?? Number.NaN)}`);
  log(`failover_sigkill_ms=${Math.round(failover.SIGKILL ?? Number.NaN)}`);
  log(`lease_requests_per_min=${Math.round((leaseRequests * 60) / seconds)}`);
  log(`idle_canaries=${idle}`);
  log(`init_p50_ms=${Math.round(median(initMs))}`);
  log(`revision_reaction_p50_ms=${Math.round(median(reactionMs))}`);
  log(`revision_reaction_p99_ms=${Math.round(percentile(sorted, 99))}`);
  log(`idle_api_requests_per_min=${Math.round((idleRequests * 60) / seconds)}`);
} finally {
  await operator.stop();
  if (!world.own) await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await world.close();
}
