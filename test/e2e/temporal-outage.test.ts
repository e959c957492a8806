/**
 * End to end with Temporal itself failing: a dev server of this test's own (its database on
 * disk) is stopped for 20 s in the middle of a rollout and started again. /readyz says Temporal
 * is unreachable meanwhile; a Canary created during the outage is initialized once Temporal is
 * back; the rollout finishes with every step once. A Canary deleted while Temporal is down is
 * still gone in time, and its workflow is told to finish once Temporal returns.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Connection } from "@temporalio/client";
import { RESOURCES } from "../../src/kube/resources.ts";
import { workflowId } from "../../workflows/messages.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage } from "../activities/rollout-support.ts";
import { isAlive, killGroup, type ManagedProcess, Supervisor, waitFor } from "../harness/process.ts";
import { startTemporal } from "../harness/temporal.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { gone, statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-outage");
const dir = mkdtempSync(join(tmpdir(), "durable-canary-outage-"));
const supervisor = new Supervisor(dir);
let server: { address: string; process: ManagedProcess; port: number } | undefined;
let operator: OperatorProcess | undefined;
let restarts = 0;

async function startServer(port?: number): Promise<void> {
  const started = await startTemporal(supervisor, {
    dir,
    dbFile: "temporal.db",
    name: `temporal-${restarts++}`,
    ...(port === undefined ? {} : { port }),
  });
  server = {
    address: started.address,
    process: started.process,
    port: Number(started.address.split(":")[1]),
  };
}

async function stopServer(): Promise<void> {
  const pid = server?.process.pid;
  if (pid === undefined) return;
  killGroup(pid, "SIGTERM");
  await waitFor("the Temporal server stopped", async () => (isAlive(pid) ? undefined : true), {
    timeoutMs: 20_000,
    intervalMs: 50,
  });
}

before(async () => {
  await startServer();
  operator = await startOperator(
    "outage",
    operatorGroup(),
    ["--namespace", namespace, "--finalize-timeout", "10s"],
    { TEMPORAL_ADDRESS: server?.address ?? "" },
  );
});

after(async () => {
  await operator?.stop("SIGKILL");
  await supervisor.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const steps = {
  provider: "gatewayapi:v1",
  analysis: { interval: "2s", threshold: 2, stepWeight: 20, maxWeight: 80 },
} as const;

describe("Temporal stopped for 20 s mid-rollout", () => {
  it("the rollout finishes, readiness tells, and nothing sent meanwhile is lost", async () => {
    assert.ok(operator && server);
    await createAvailable(deployment(namespace, "app", 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name: "app", namespace },
      spec: canarySpec("app", steps),
    });
    const first = await statusWhere(namespace, "app", "Initialized", (s) => s.phase === "Initialized");
    const route = recordCanaryWeights(namespace, "app", admin);
    await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    await setImage(namespace, "app", "example.test/app:2");
    await waitFor("the first step", async () => (route.weights.includes(20) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
    });

    await stopServer();
    const down = Date.now();
    await waitFor(
      "/readyz reports Temporal unreachable",
      async () => {
        const ready = await (operator as OperatorProcess).get("/readyz");
        return ready.status === 503 && ready.body.includes("[-]temporal") ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    // Made during the outage: the controller must deliver it once Temporal is back.
    await createAvailable(deployment(namespace, "late", 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name: "late", namespace },
      spec: canarySpec("late", steps),
    });
    await sleep(Math.max(0, 20_000 - (Date.now() - down)));
    await startServer(server.port);

    await statusWhere(
      namespace,
      "app",
      "Succeeded",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
      180_000,
    );
    await route.stop();
    assert.deepEqual(route.weights, [0, 20, 40, 60, 80, 0]);
    await statusWhere(namespace, "late", "Initialized", (s) => s.phase === "Initialized", 120_000);
    await waitFor(
      "/readyz ready again",
      async () => ((await (operator as OperatorProcess).get("/readyz")).status === 200 ? true : undefined),
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  });

  it("an operator started while Temporal is down waits for it, not ready, then serves", async () => {
    assert.ok(server);
    await stopServer();
    const late = await startOperator("outage-late", operatorGroup(), ["--namespace", `${namespace}-none`], {
      TEMPORAL_ADDRESS: server.address,
    });
    try {
      const ready = await late.get("/readyz");
      assert.equal(ready.status, 503);
      assert.match(ready.body, /\[-\]temporal: unreachable/);
      assert.match(ready.body, /\[-\]worker: not polling/);
      await startServer(server.port);
      await waitFor(
        "/readyz once Temporal is up",
        async () => ((await late.get("/readyz")).status === 200 ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    } finally {
      await late.stop();
    }
  });

  it("a Canary deleted while Temporal is down is gone in time; its workflow finishes once Temporal is back", async () => {
    assert.ok(operator && server);
    await createAvailable(deployment(namespace, "doomed", 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name: "doomed", namespace },
      spec: { ...canarySpec("doomed", steps), revertOnDeletion: true },
    });
    await statusWhere(namespace, "doomed", "Initialized", (s) => s.phase === "Initialized");
    await stopServer();
    await admin.delete(RESOURCES.canaries, namespace, "doomed");
    await gone(namespace, "doomed", 30_000);
    await startServer(server.port);
    const connection = await Connection.connect({ address: server.address });
    try {
      const handle = new Client({ connection }).workflow.getHandle(workflowId(namespace, "doomed"));
      await waitFor(
        "the orphaned workflow finished",
        async () => ((await handle.describe()).status.name === "RUNNING" ? undefined : true),
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    } finally {
      await connection.close();
    }
  });
});
