/**
 * Proves the cluster world's Temporal is a real cluster: four server processes on PostgreSQL that
 * serve our namespace with our search attributes, run a workflow through frontend, matching and
 * history into SQL visibility, show it in the UI server, and serve again after any one service
 * or PostgreSQL itself is killed or stopped and started again.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { Client, Connection } from "@temporalio/client";
import proto from "@temporalio/proto";
import {
  searchAttributeKeys,
  searchAttributes,
  searchAttributeTypeNames,
} from "../../src/temporal/search-attributes.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { Supervisor, waitFor } from "../harness/process.ts";
import {
  type ClusterService,
  clusterServices,
  startTemporalCluster,
  type TemporalCluster,
} from "../harness/temporal-cluster.ts";
import { worldEnv } from "../harness/world-env.ts";

const { CommandType, TaskQueueKind } = proto.temporal.api.enums.v1;
const execFileAsync = promisify(execFile);

const dir = join(worldEnv().dir, `temporal-cluster-${process.pid}`);
mkdirSync(dir, { recursive: true });
const supervisor = new Supervisor(dir);
let cluster: TemporalCluster;
let connection: Connection;
let client: Client;
let failed = false;
let roundTrips = 0;

before(
  async () => {
    const started = performance.now();
    cluster = await startTemporalCluster(supervisor, { dir: join(dir, "temporal") });
    process.stderr.write(
      `[test] Temporal cluster started in ${((performance.now() - started) / 1000).toFixed(1)}s\n`,
    );
    connection = await Connection.connect({ address: cluster.address });
    client = new Client({ connection, namespace: cluster.namespace });
  },
  { timeout: 300_000 },
);

afterEach((t) => {
  if ("passed" in t) failed ||= !t.passed;
});

after(async () => {
  await connection?.close();
  await cluster?.stop();
  await supervisor.stopAll();
  // The cluster's logs and database stay for a look when a test failed.
  if (!failed) rmSync(dir, { recursive: true, force: true });
});

/** The `temporal` CLI against the cluster's frontend, with JSON output. */
async function cli<T>(...args: string[]): Promise<T> {
  const { stdout } = await execFileAsync(
    requireBinary("temporal"),
    [...args, "--address", cluster.address, "--namespace", cluster.namespace, "--output", "json"],
    { timeout: 30_000 },
  );
  return JSON.parse(stdout) as T;
}

/**
 * One workflow through the whole cluster: started with a search attribute (frontend, history),
 * its workflow task taken from matching and answered by completing the workflow, and then found
 * closed in SQL visibility by that attribute.
 */
async function roundTrip(label: string): Promise<void> {
  roundTrips++;
  const workflowId = `cluster-${label}-${process.pid}-${roundTrips}`;
  const taskQueue = `cluster-test-${process.pid}-${roundTrips}`;
  const handle = await client.workflow.start("clusterProbe", {
    workflowId,
    taskQueue,
    typedSearchAttributes: [{ key: searchAttributes.CanaryName, value: workflowId }],
  });
  const task = await connection.withDeadline(Date.now() + 30_000, () =>
    connection.workflowService.pollWorkflowTaskQueue({
      namespace: cluster.namespace,
      taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      identity: "temporal-cluster-test",
    }),
  );
  assert.equal(task.workflowExecution?.workflowId, workflowId, "matching hands out the workflow's task");
  await connection.workflowService.respondWorkflowTaskCompleted({
    namespace: cluster.namespace,
    taskToken: task.taskToken,
    identity: "temporal-cluster-test",
    commands: [
      {
        commandType: CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        completeWorkflowExecutionCommandAttributes: {},
      },
    ],
  });
  await handle.result();
  const query = `${searchAttributes.CanaryName.name} = "${workflowId}" AND ExecutionStatus = "Completed"`;
  await waitFor(
    `${workflowId} closed in visibility`,
    async () => {
      const { count } = await client.workflow.count(query);
      return count === 1 ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) / 1024;
}

function reportRss(t: TestContext, when: string): void {
  const rss = Object.entries(cluster.processes()).map(
    ([name, p]) => `${name} ${rssMiB(p.pid).toFixed(0)} MiB`,
  );
  t.diagnostic(`RSS ${when}: ${rss.join(", ")}`);
}

describe("temporal cluster", { concurrency: false }, () => {
  it("runs four services of its own, each a separate process", () => {
    const processes = cluster.processes();
    const pids = new Set(clusterServices.map((service) => processes[service].pid));
    assert.equal(pids.size, 4);
    for (const pid of [...pids, processes.postgres.pid, processes.ui.pid]) {
      assert.ok(rssMiB(pid) > 0, `process ${pid} is alive`);
    }
  });

  it("serves the namespace with our search attributes, as the temporal CLI sees them", async () => {
    const ns = await cli<{ namespaceInfo: { name: string; state: string } }>(
      "operator",
      "namespace",
      "describe",
    );
    assert.equal(ns.namespaceInfo.name, cluster.namespace);
    assert.equal(ns.namespaceInfo.state, "NAMESPACE_STATE_REGISTERED");
    const listed = await cli<{ customAttributes: Record<string, string> }>(
      "operator",
      "search-attribute",
      "list",
    );
    for (const key of searchAttributeKeys) {
      const wire =
        proto.temporal.api.enums.v1.IndexedValueType[searchAttributeTypeNames[key.type].indexedValueType];
      assert.equal(listed.customAttributes[key.name], wire, `${key.name} is registered as ${key.type}`);
    }
  });

  it("runs a workflow through frontend, matching and history into SQL visibility", async () => {
    await roundTrip("first");
    const found = await cli<{ execution: { workflowId: string } }[]>(
      "workflow",
      "list",
      "--query",
      `${searchAttributes.CanaryName.name} STARTS_WITH "cluster-first-"`,
    );
    assert.equal(found.length, 1, "the CLI lists the workflow by our search attribute");
  });

  it("shows the namespace in the UI server", async () => {
    const page = await fetch(cluster.uiUrl);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const res = await fetch(`${cluster.uiUrl}/api/v1/namespaces`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { namespaces: { namespaceInfo: { name: string } }[] };
    assert.ok(
      body.namespaces.some((n) => n.namespaceInfo.name === cluster.namespace),
      `the UI's API lists ${cluster.namespace}`,
    );
  });

  const restarts: [ClusterService, "SIGKILL" | "SIGTERM"][] = [
    ["history", "SIGKILL"],
    ["matching", "SIGKILL"],
    ["frontend", "SIGTERM"],
    ["worker", "SIGKILL"],
  ];
  for (const [service, signal] of restarts) {
    it(`serves again after ${service} gets ${signal} and restarts`, async (t) => {
      const before = cluster.processes()[service].pid;
      const started = performance.now();
      await cluster.restartService(service, { signal, downMs: 1_000 });
      t.diagnostic(
        `${service} serving again ${((performance.now() - started) / 1000).toFixed(1)}s after the ${signal}`,
      );
      assert.notEqual(cluster.processes()[service].pid, before, "a new process serves");
      await cluster.waitServing();
      await cli("operator", "namespace", "describe");
      await roundTrip(`after-${service}`);
    });
  }

  it("serves again after PostgreSQL stops for 3 s", async (t) => {
    const started = performance.now();
    await cluster.restartPostgres({ downMs: 3_000 });
    await cluster.waitServing();
    t.diagnostic(
      `serving again ${((performance.now() - started) / 1000).toFixed(1)}s after the fast shutdown`,
    );
    await roundTrip("after-postgres-stop");
  });

  it("serves again after PostgreSQL is killed", async (t) => {
    const started = performance.now();
    await cluster.restartPostgres({ signal: "SIGKILL", downMs: 1_000 });
    await cluster.waitServing();
    t.diagnostic(`serving again ${((performance.now() - started) / 1000).toFixed(1)}s after the kill`);
    await roundTrip("after-postgres-kill");
  });

  it("counts the rows and bytes of both databases", async (t) => {
    const usage = await cluster.databaseUsage();
    const executions = usage.tables["temporal.executions"];
    const visibility = usage.tables["temporal_visibility.executions_visibility"];
    assert.ok(executions && visibility, "the tables of both databases are counted");
    // Our round trips, plus the system workflows the worker service runs.
    assert.ok(
      visibility.rows >= roundTrips,
      `${visibility.rows} visibility rows for ${roundTrips} workflows`,
    );
    assert.ok(executions.rows >= roundTrips);
    const sum = Object.values(usage.tables).reduce((s, u) => s + u.rows, 0);
    assert.equal(usage.rows, sum);
    assert.ok(usage.bytes > 0);
    t.diagnostic(
      `databases: ${usage.rows} rows, ${(usage.bytes / 1024 / 1024).toFixed(1)} MiB in ${Object.keys(usage.tables).length} tables`,
    );
    reportRss(t, "at the end");
  });
});
