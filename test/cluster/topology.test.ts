/**
 * The operator as production runs it: two replicas with controller and worker (one leads by the
 * Lease) and one worker-only process on one task queue, against a Temporal cluster. Canaries are
 * rolled out through the Kubernetes API only, and must survive chaos in that topology: every
 * rollout ends Succeeded with each weight step once and no Canary in a wrong phase. The tests run
 * one after another: chaos on the shared Temporal must not overlap another test's rollouts.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, it, type TestContext } from "node:test";
import type { Client } from "@temporalio/client";
import { testNamespace } from "../activities/kube-support.ts";
import { Supervisor, startWatchdog } from "../harness/process.ts";
import { startTemporalCluster, type TemporalCluster } from "../harness/temporal-cluster.ts";
import { worldEnv } from "../harness/world-env.ts";
import {
  Fleet,
  historyReader,
  removeCanaries,
  SLOTS,
  type Slot,
  type TemporalTarget,
  Topology,
  workPerProcess,
} from "./support.ts";

const dir = join(worldEnv().dir, `topology-${process.pid}`);
mkdirSync(dir, { recursive: true });
const supervisor = new Supervisor(dir);
startWatchdog(supervisor.pidFile);
let cluster: TemporalCluster | undefined;
/** The Temporal every operator process of this file is given: the cluster started here. */
let temporal: TemporalTarget;
let reader: Client | undefined;
let failed = false;

before(
  async () => {
    cluster = await startTemporalCluster(supervisor, { dir: join(dir, "temporal") });
    temporal = { address: cluster.address, namespace: cluster.namespace };
    reader = await historyReader(temporal);
  },
  { timeout: 600_000 },
);

afterEach((t) => {
  if ("passed" in t) failed ||= !t.passed;
});

after(async () => {
  await reader?.connection.close();
  await cluster?.stop();
  await supervisor.stopAll();
  // The cluster's logs and database stay for a look when a test failed.
  if (!failed) rmSync(dir, { recursive: true, force: true });
});

const noChaos = async () => {};
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/**
 * A fleet of canaries rolling out on a fresh topology in `namespace`; `chaos` strikes once the
 * first canary is at its first step, and begins the rollouts of the last `held` canaries itself.
 * Afterwards every rollout must have gone as an undisturbed one does; `inspect` then looks on
 * before the canaries are deleted.
 */
async function rolloutsThrough(
  t: TestContext,
  namespace: string,
  options: { count: number; intervalSeconds: number; held?: number },
  chaos: (topology: Topology, fleet: Fleet) => Promise<void>,
  inspect?: (topology: Topology, fleet: Fleet) => Promise<void>,
): Promise<void> {
  const topology = await Topology.start(namespace, temporal);
  let fleet: Fleet | undefined;
  try {
    fleet = await Fleet.create(namespace, options.count, options.intervalSeconds);
    const started = Date.now();
    await fleet.changeImages(fleet.names.slice(0, options.count - (options.held ?? 0)));
    await fleet.reached(20);
    const underWay = fleet.underWay();
    assert.ok(underWay > 0, "the chaos strikes while rollouts run");
    const struck = Date.now();
    await chaos(topology, fleet);
    if (chaos !== noChaos)
      t.diagnostic(`the chaos took ${seconds(Date.now() - struck)}, ${underWay} rollouts under way`);
    await fleet.finished();
    t.diagnostic(`${options.count} rollouts in ${seconds(Date.now() - started)}`);
    fleet.verify();
    t.diagnostic(fleet.describeExtra());
    await inspect?.(topology, fleet);
  } finally {
    // The canaries go while the operators still run: their finalizers need them.
    await fleet?.stopWatching();
    await removeCanaries(namespace).catch((err: unknown) => t.diagnostic(`cleanup: ${String(err)}`));
    await topology.stop();
  }
}

describe("the operator topology: two replicas and a worker on one task queue", () => {
  const spreadNs = testNamespace("topo-spread");
  const leaderNs = testNamespace("topo-leader");
  const workerNs = testNamespace("topo-worker");
  const historyNs = testNamespace("topo-history");
  const postgresNs = testNamespace("topo-postgres");
  const upgradeNs = testNamespace("topo-upgrade");

  it("20 canaries roll out at once, all succeed, and every process does some of the work", async (t) => {
    await rolloutsThrough(
      t,
      spreadNs,
      { count: 20, intervalSeconds: 2 },
      noChaos,
      async (topology, fleet) => {
        assert.ok(reader);
        const work = await workPerProcess(reader, topology, fleet.names);
        for (const [name, w] of [...work].sort(([a], [b]) => a.localeCompare(b)))
          t.diagnostic(
            `${name}: ${w.localActivities} local activities, ${w.activities} activities, ${w.workflowTasks} workflow tasks`,
          );
        for (const slot of SLOTS) {
          const done = work.get(slot);
          assert.ok(done && done.localActivities + done.activities > 0, `${slot} ran some activities`);
        }
      },
    );
  });

  it("the leading replica SIGKILLed: the other takes the Lease, and rollouts begun meanwhile run too", async (t) => {
    const held = 2;
    await rolloutsThrough(t, leaderNs, { count: 5, intervalSeconds: 2, held }, async (topology, fleet) => {
      const leader = await topology.leader();
      await topology.process(leader).stop("SIGKILL");
      // Only a controller sends a new revision: these wait for the standby to take the Lease.
      await fleet.changeImages(fleet.names.slice(-held));
      const standby: Slot = leader === "replica-a" ? "replica-b" : "replica-a";
      await topology.process(standby).waitForLog('"became the leader"', 30_000);
      assert.equal(await topology.leader(), standby);
    });
  });

  it("the worker-only process SIGKILLed mid-rollout and started again", async (t) => {
    await rolloutsThrough(t, workerNs, { count: 5, intervalSeconds: 2 }, async (topology) => {
      await topology.process("worker").stop("SIGKILL");
      await topology.startSlot("worker");
    });
  });

  it("the Temporal history service SIGKILLed and started again mid-rollout", async (t) => {
    await rolloutsThrough(t, historyNs, { count: 5, intervalSeconds: 2 }, async () => {
      assert.ok(cluster);
      await cluster.restartService("history", { signal: "SIGKILL" });
    });
  });

  it("PostgreSQL, Temporal's database, down for 15 s mid-rollout", async (t) => {
    await rolloutsThrough(t, postgresNs, { count: 5, intervalSeconds: 2 }, async () => {
      assert.ok(cluster);
      await cluster.restartPostgres({ downMs: 15_000 });
    });
  });

  it("a rolling upgrade: each process stopped (SIGTERM) and replaced, one after another", async (t) => {
    // The "new build" is this same checkout: no workflow change, so only the restarts are tested.
    await rolloutsThrough(t, upgradeNs, { count: 5, intervalSeconds: 3 }, async (topology) => {
      const draining: Promise<string>[] = [];
      for (const slot of SLOTS) {
        // As a Deployment's rolling update does: the old pod is told to stop as its replacement starts.
        const old = topology.process(slot);
        const stopping = Date.now();
        draining.push(
          old.stop("SIGTERM").then(async () => {
            const code = await old.exitCode(1_000);
            return `${slot} in ${seconds(Date.now() - stopping)} (${code === null ? "killed" : `exit code ${code}`})`;
          }),
        );
        await topology.startSlot(slot);
      }
      t.diagnostic(`the old processes stopped: ${(await Promise.all(draining)).join(", ")}`);
    });
  });
});
