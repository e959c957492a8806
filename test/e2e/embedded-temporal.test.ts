/**
 * The operator on its embedded Temporal server (no TEMPORAL_ADDRESS), as `npm start` runs it:
 * it rolls nothing back by itself when the server dies, but exits non-zero with the server's
 * last log lines instead of running on without it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { freePort } from "../harness/process.ts";
import { OperatorProcess, operatorGroup } from "./operator.ts";

const stateDir = mkdtempSync(join(tmpdir(), "durable-canary-embedded-"));
let operator: OperatorProcess | undefined;
after(async () => {
  await operator?.stop("SIGKILL");
  rmSync(stateDir, { recursive: true, force: true });
});

describe("the embedded Temporal server", () => {
  it("dies: the operator exits non-zero with the server's last log lines", async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    operator = new OperatorProcess(
      "embedded",
      operatorGroup(),
      ["--namespace", "e2e-embedded-none", "--state-dir", stateDir],
      {
        TEMPORAL_ADDRESS: "",
        TEMPORAL_NAMESPACE: "",
        DURABLE_CANARY_TEMPORAL_PORT: String(port),
        DURABLE_CANARY_TEMPORAL_UI_PORT: String(uiPort),
      },
    );
    await operator.ready(120_000);
    assert.match(operator.output, new RegExp(`127\\.0\\.0\\.1:${uiPort}`), "the UI address is printed");
    const serverPid = Number(readFileSync(join(stateDir, "temporal-server.pid"), "utf8").trim());
    process.kill(serverPid, "SIGKILL");
    const code = await operator.exitCode(60_000);
    assert.equal(code, 1);
    assert.match(operator.output, /the embedded Temporal server exited \(SIGKILL\); its last log lines/);
  });
});
