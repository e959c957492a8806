/**
 * The operator's worker on a real Temporal server: it serves the canary workflow from the
 * workflow bundle on the task queue it is given, and an aborted signal stops it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Connection } from "@temporalio/client";
import { DefaultLogger, NativeConnection, Runtime } from "@temporalio/worker";
import { pino } from "pino";
import { parseOperatorConfig } from "../../src/config/operator.ts";
import { startEmbeddedTemporal } from "../../src/temporal/embedded.ts";
import { runWorker } from "../../src/worker.ts";
import { statusQuery, workflowId } from "../../workflows/messages.ts";
import { freePort } from "../harness/process.ts";

// The worker's routine INFO lines would bury the test report.
Runtime.install({ logger: new DefaultLogger("WARN") });

const stateDir = mkdtempSync(join(tmpdir(), "durable-canary-worker-"));
after(() => rmSync(stateDir, { recursive: true, force: true }));

describe("operator worker", () => {
  it("serves the canary workflow on its task queue until its signal aborts", async () => {
    const port = await freePort();
    let uiPort = await freePort();
    while (uiPort === port) uiPort = await freePort();
    const server = await startEmbeddedTemporal(
      { ip: "127.0.0.1", port, uiPort, namespace: "default" },
      { log: () => {}, handleSignals: false, stateDir, readyTimeoutMs: 120_000 },
    );
    const messages: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => messages.push(JSON.parse(line).msg) });
    const taskQueue = `worker-smoke-${randomUUID()}`;
    const stopping = new AbortController();
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    try {
      const worker = runWorker({
        connection: nativeConnection,
        namespace: server.namespace,
        config: parseOperatorConfig({}),
        log,
        taskQueue,
        shutdownGraceMs: 1000,
        signal: stopping.signal,
      });
      const client = new Client({ connection, namespace: server.namespace });
      const name = `smoke-${randomUUID()}`;
      // Idle until a revision arrives, so no activity needs a cluster.
      const handle = await client.workflow.start("canaryWorkflow", {
        workflowId: workflowId("smoke", name),
        taskQueue,
        args: [{ ref: { namespace: "smoke", name } }],
      });
      const status = await handle.query(statusQuery);
      assert.equal(typeof status.phase, "string", "the workflow code answered");
      await handle.terminate("test done");

      stopping.abort();
      const stopped = await Promise.race([worker.then(() => true), sleep(30_000, false, { ref: false })]);
      assert.equal(stopped, true, "runWorker returns once the signal aborts");
      assert.match(messages.find((m) => m.startsWith("workflow bundle:")) ?? "", /^workflow bundle: /);
      assert.deepEqual(
        messages.filter((m) => m === "worker started" || m === "worker stopped"),
        ["worker started", "worker stopped"],
      );
    } finally {
      stopping.abort();
      await connection.close();
      await nativeConnection.close();
      await server.stop();
    }
  });
});
