/**
 * `npm start` on a machine with no cluster configured says what to do, and exits non-zero before
 * starting anything.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const main = join(import.meta.dirname, "../../src/main.ts");

function run(env: Record<string, string>, args: string[] = []) {
  const home = mkdtempSync(join(tmpdir(), "dc-home-"));
  const { KUBECONFIG: _k, TEMPORAL_ADDRESS: _t, ...rest } = process.env;
  return spawnSync(process.execPath, [main, "run", "--listen", "127.0.0.1:0", ...args], {
    env: { ...rest, HOME: home, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
}

describe("the operator without a cluster", () => {
  it("explains how to point it at one", () => {
    const result = run({});
    assert.equal(result.status, 1);
    assert.match(result.stderr, /Kubernetes cluster/);
    assert.match(result.stderr, /KUBECONFIG or --kubeconfig/);
    assert.match(result.stderr, /npm run world:up/);
  });

  it("names a kubeconfig that does not exist", () => {
    const result = run({ KUBECONFIG: "/nonexistent/kubeconfig" });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /kubeconfig \/nonexistent\/kubeconfig does not exist/);
  });

  it("refuses a bad flag with the reason", () => {
    const result = run({}, ["--role", "boss"]);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Allowed choices are all, controller, worker/);
  });
});
