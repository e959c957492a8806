/**
 * The embedded Temporal server with the real CLI: its files live in the state folder it is given,
 * and a server that dies is reported with the end of its log, while one that was stopped is not.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type EmbeddedTemporal, startEmbeddedTemporal } from "../../src/temporal/embedded.ts";
import { freePort } from "../harness/process.ts";

const stateDir = mkdtempSync(join(tmpdir(), "durable-canary-embedded-"));
after(() => rmSync(stateDir, { recursive: true, force: true }));

async function start(): Promise<EmbeddedTemporal> {
  const port = await freePort();
  let uiPort = await freePort();
  while (uiPort === port) uiPort = await freePort();
  return startEmbeddedTemporal(
    { ip: "127.0.0.1", port, uiPort, namespace: "default" },
    { log: () => {}, handleSignals: false, stateDir, readyTimeoutMs: 120_000 },
  );
}

describe("embedded Temporal server", () => {
  it("reports a server that dies, with the end of its log", async () => {
    const server = await start();
    try {
      assert.ok(existsSync(join(stateDir, "temporal.sqlite")), "the database is in the state folder");
      assert.equal(readFileSync(join(stateDir, "temporal-server.pid"), "utf8").trim(), String(server.pid));
      assert.equal(server.logFile, join(stateDir, "temporal-server.log"));
      // The banner comes a moment after the server serves; the tail should show it.
      const deadline = Date.now() + 30_000;
      while (!readFileSync(server.logFile, "utf8").includes("Temporal Server:") && Date.now() < deadline) {
        await sleep(100);
      }
      process.kill(server.pid, "SIGKILL");
      const exit = await Promise.race([server.exited, sleep(30_000, undefined, { ref: false })]);
      assert.ok(exit, "exited resolves when the server dies");
      assert.deepEqual([exit.code, exit.signal], [null, "SIGKILL"]);
      assert.match(exit.logTail, /Temporal Server: /, "the server's own lines");
      assert.doesNotMatch(exit.logTail, /durable-canary starts/, "only this start's lines");
    } finally {
      await server.stop();
    }
  });

  it("does not report a server that was stopped, and keeps the log of every start", async () => {
    const server = await start();
    let reported = false;
    void server.exited.then(() => {
      reported = true;
    });
    await server.stop();
    await sleep(1000);
    assert.equal(reported, false);
    assert.equal(existsSync(join(stateDir, "temporal-server.pid")), false);
    const starts = readFileSync(join(stateDir, "temporal-server.log"), "utf8").match(
      /durable-canary starts/g,
    );
    assert.equal(starts?.length, 2, "both starts of this file are in the log");
  });
});
