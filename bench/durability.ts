/**
 * Durability benchmark (prints figures, asserts nothing about time): the operator's own process,
 * `durable-canary run` with the real activities, is killed with SIGKILL at a random point of a
 * canary rollout on the test world and restarted at once, one kill per rollout, `--kills`
 * rollouts in all. Each interrupted rollout is compared with the uninterrupted ones: the canary
 * weights its HTTPRoute went through (a lost step is a weight missing, a repeated one a weight
 * seen again), the final phase and the primary's image; its extra time over their median is what
 * that kill cost.
 * Starts its own test world, unless DC_WORLD_DIR names a running one (`npm run world:up`).
 * Usage: npm run bench:durability [-- --kills 20 --seed 7]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CoreV1Api, type V1Deployment } from "@kubernetes/client-node";
import { Client, Connection } from "@temporalio/client";
import { RESOURCES } from "../src/kube/resources.ts";
import type { Target } from "../workflows/activity-port.ts";
import { revisionSignal, TASK_QUEUE, workflowId } from "../workflows/messages.ts";
import { log, median, percentile } from "./figures.ts";
import { openBenchWorld } from "./world.ts";

const { values } = parseArgs({
  options: { kills: { type: "string", default: "20" }, seed: { type: "string", default: "7" } },
});
const kills = Number(values.kills);
const intervalMs = 2000;
/** Uninterrupted rollouts, whose median is the reference: a single one is as noisy as a kill. */
const references = 3;

/** A small seeded generator (mulberry32), so a run's kill points can be replayed with --seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per weight: times seen in `observed` minus times in `expected` (+ repeated, − lost). */
function weightDifferences(expected: readonly number[], observed: readonly number[]): Map<number, number> {
  const diff = new Map<number, number>();
  for (const w of observed) diff.set(w, (diff.get(w) ?? 0) + 1);
  for (const w of expected) diff.set(w, (diff.get(w) ?? 0) - 1);
  return diff;
}

const world = await openBenchWorld("durability", log);

// The test helpers connect to the world when they are loaded, so only now that it is known.
const { admin, canarySpec, createAvailable, createCanary, deployment, operatorClient } = await import(
  "../test/activities/kube-support.ts"
);
const { recordCanaryWeights, setImage, settled, targetRevision } = await import(
  "../test/activities/rollout-support.ts"
);

const dir = mkdtempSync(join(tmpdir(), "durable-canary-bench-durability-"));
const configFile = join(dir, "operator.yaml");
writeFileSync(configFile, `metricsServer: ${world.info.prometheusUrl}\n`);
const workerLog = createWriteStream(join(dir, "worker.log"));

/** The operator process as a user runs it, against the world's Temporal and API server. */
async function startOperator(): Promise<{ child: ChildProcess; readyMs: number }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "../src/main.ts"),
      "run",
      // This benchmark sends the revisions itself, as the controller would.
      "--role",
      "worker",
      "--listen",
      "127.0.0.1:0",
      "--kubeconfig",
      world.info.operatorKubeconfig,
      "--config",
      configFile,
      "--task-queue",
      taskQueue,
    ],
    {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: world.info.temporalAddress,
        TEMPORAL_NAMESPACE: world.info.temporalNamespace,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stderr?.pipe(workerLog, { end: false });
  await new Promise<void>((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      workerLog.write(chunk);
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes('"worker started"')) resolve();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`the operator exited (${signal ?? code}) before it was ready; see ${dir}/worker.log`)),
    );
  });
  return { child, readyMs: performance.now() - started };
}

function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  return gone;
}

const namespace = `bench-durability-${process.pid}`;
// A task queue of its own: no other worker on the world can take over a killed one's work.
const taskQueue = `${TASK_QUEUE}-bench-${process.pid}`;
const name = "podinfo";
const connection = await Connection.connect({ address: world.info.temporalAddress });
const client = new Client({ connection, namespace: world.info.temporalNamespace });
let generation = 1;
let operator = await startOperator();

/** The revision signal the controller sends: signal-with-start on the operator's task queue. */
async function sendRevision(target: Target): Promise<string> {
  const revision = await targetRevision(namespace, target.spec.targetRef.name);
  await client.workflow.signalWithStart("canaryWorkflow", {
    workflowId: workflowId(namespace, name),
    taskQueue,
    args: [{ ref: target.ref }],
    signal: revisionSignal,
    signalArgs: [{ revision, spec: target.spec, generation: generation++ }],
  });
  return revision;
}

interface Rollout {
  readonly weights: readonly number[];
  readonly image: string | undefined;
  readonly phase: string | undefined;
  readonly ms: number;
  readonly kills: number;
}

let image = 1;
const next = random(Number(values.seed));
const restarts: number[] = [];

/**
 * One rollout to a new image. With `killAtMs`, the operator is killed that long after the
 * revision is sent (unless the rollout is over by then) and started again at once.
 */
async function rollout(target: Target, killAtMs?: number): Promise<Rollout> {
  const route = recordCanaryWeights(namespace, name, operatorClient());
  while (route.weights.length === 0) await sleep(10);
  image++;
  await setImage(namespace, name, `example.test/app:${image}`);
  const started = performance.now();
  const revision = await sendRevision(target);
  let done = false;
  const finished = settled(namespace, name, "Succeeded", revision, 15 * 60_000).then((status) => {
    done = true;
    return status;
  });
  let count = 0;
  if (killAtMs !== undefined) await Promise.race([sleep(killAtMs), finished]);
  if (killAtMs !== undefined && !done) {
    await killed(operator.child);
    count++;
    operator = await startOperator();
    restarts.push(operator.readyMs);
    log(
      `  killed at ${Math.round(killAtMs)} ms, weight ${route.weights.at(-1)}: operator back in ${Math.round(operator.readyMs)} ms`,
    );
  }
  const status = await finished;
  const ms = performance.now() - started;
  // The watch may deliver the last change just after the status: let it arrive.
  await sleep(500);
  await route.stop();
  const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, `${name}-primary`);
  return {
    weights: [...route.weights],
    image: primary.spec?.template.spec?.containers[0]?.image,
    phase: status.phase,
    ms,
    kills: count,
  };
}

try {
  await admin.api(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  await createAvailable(deployment(namespace, name, 2));
  const spec = canarySpec(name, {
    analysis: { interval: `${intervalMs}ms`, threshold: 1, stepWeight: 10, maxWeight: 100 },
  });
  const target = await createCanary(namespace, name, spec);
  await settled(namespace, name, "Initialized", await sendRevision(target), 120_000);

  const uninterrupted: Rollout[] = [];
  for (let i = 0; i < references; i++) {
    const run = await rollout(target);
    uninterrupted.push(run);
    log(`uninterrupted rollout: ${Math.round(run.ms)} ms, weights ${run.weights.join(" → ")}, ${run.phase}`);
  }
  const reference = uninterrupted[0] as Rollout;
  const referenceMs = median(uninterrupted.map((r) => r.ms));

  let identical = 0;
  let lost = 0;
  let repeated = 0;
  const runs: Rollout[] = [];
  for (let i = 0; i < kills; i++) {
    // Anywhere in the rollout but its last step, so that the kill lands before the end.
    const run = await rollout(target, 100 + next() * (referenceMs - intervalMs));
    runs.push(run);
    const diff = weightDifferences(reference.weights, run.weights);
    const runLost = [...diff.values()].filter((d) => d < 0).reduce((a, d) => a - d, 0);
    const runRepeated = [...diff.values()].filter((d) => d > 0).reduce((a, d) => a + d, 0);
    lost += runLost;
    repeated += runRepeated;
    const same =
      run.phase === "Succeeded" &&
      run.image === `example.test/app:${image}` &&
      run.weights.join() === reference.weights.join();
    if (same) identical++;
    log(
      `rollout ${runs.length}: ${run.kills} kill, ${Math.round(run.ms - referenceMs)} ms extra, weights ${run.weights.join(" → ")}, ${run.phase}, ` +
        `primary ${run.image}: ${same ? "as uninterrupted" : `DIFFERENT (lost ${runLost}, repeated ${runRepeated})`}`,
    );
  }

  const extraPerKill = runs
    .filter((r) => r.kills > 0)
    .map((r) => r.ms - referenceMs)
    .sort((a, b) => a - b);
  log(`operator restart to ready: p50 ${Math.round(median(restarts))} ms over ${restarts.length} restarts`);
  log(
    `extra rollout time per kill: median ${Math.round(median(extraPerKill))} ms, ` +
      `p90 ${Math.round(percentile(extraPerKill, 90))} ms over ${extraPerKill.length} kills ` +
      `(uninterrupted rollout: median ${Math.round(referenceMs)} ms)`,
  );
  log(`durability_restart_to_ready_p50_ms=${Math.round(median(restarts))}`);
  log(`durability_extra_per_kill_p50_ms=${Math.round(median(extraPerKill))}`);
  log(`durability_extra_per_kill_p90_ms=${Math.round(percentile(extraPerKill, 90))}`);
  log(`durability_kills=${restarts.length}`);
  log(`durability_rollouts_identical=${identical}/${runs.length}`);
  log(`durability_lost_steps=${lost}`);
  log(`durability_repeated_weight_changes=${repeated}`);
} finally {
  await killed(operator.child);
  await connection.close();
  workerLog.end();
  if (!world.own)
    await admin
      .api(CoreV1Api)
      .deleteNamespace({ name: namespace })
      .catch(() => undefined);
  await world.close();
}
