/**
 * Proves the test world's Temporal is real: a real worker runs a workflow on the dev server, and
 * the workflow is found by queries on the search attributes it upserted.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Client, Connection, type WorkflowExecutionInfo } from "@temporalio/client";
import { DefaultLogger, NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { searchAttributes } from "../../src/temporal/search-attributes.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import type { smokeCanary } from "./fixtures/temporal-workflows.ts";

const world = worldEnv();
// The worker's routine INFO lines (bundling, state changes) would bury the test report.
Runtime.install({ logger: new DefaultLogger("WARN") });

async function findOne(client: Client, query: string): Promise<WorkflowExecutionInfo | undefined> {
  for await (const execution of client.workflow.list({ query, pageSize: 10 })) return execution;
  return undefined;
}

describe("Temporal dev server", () => {
  it("runs a workflow that a search-attribute query finds", async () => {
    const name = `smoke-${randomUUID()}`;
    const taskQueue = name;
    const namespace = world.temporalNamespace;
    const nativeConnection = await NativeConnection.connect({ address: world.temporalAddress });
    const connection = await Connection.connect({ address: world.temporalAddress });
    try {
      const client = new Client({ connection, namespace });
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace,
        taskQueue,
        workflowsPath: fileURLToPath(new URL("./fixtures/temporal-workflows.ts", import.meta.url)),
      });
      const weights = await worker.runUntil(
        client.workflow.execute<typeof smokeCanary>("smokeCanary", {
          workflowId: `canary/smoke/${name}`,
          taskQueue,
          args: [{ name, namespace: "smoke", revision: "rev-1" }],
        }),
      );
      assert.deepEqual(weights, [10, 50, 100]);

      const found = await waitFor(
        "visibility to list the workflow by CanaryName",
        () => findOne(client, `CanaryName = "${name}"`),
        { timeoutMs: 30_000 },
      );
      assert.equal(found.workflowId, `canary/smoke/${name}`);
      assert.equal(found.status.name, "COMPLETED");
      assert.equal(found.typedSearchAttributes.get(searchAttributes.CanaryNamespace), "smoke");
      assert.equal(found.typedSearchAttributes.get(searchAttributes.CanaryPhase), "Succeeded");
      assert.equal(found.typedSearchAttributes.get(searchAttributes.CanaryWeight), 100);
      assert.equal(found.typedSearchAttributes.get(searchAttributes.TargetRevision), "rev-1");

      // Each attribute is usable in a query with its own type (Int compares as a number).
      const combined = await findOne(
        client,
        `CanaryName = "${name}" AND CanaryNamespace = "smoke" AND CanaryPhase = "Succeeded" ` +
          `AND CanaryWeight >= 100 AND TargetRevision = "rev-1"`,
      );
      assert.equal(combined?.workflowId, `canary/smoke/${name}`);
      assert.equal(await findOne(client, `CanaryName = "${name}" AND CanaryWeight < 100`), undefined);
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });
});
