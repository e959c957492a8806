/**
 * A running operator has its compiled code on disk for its restart: Node writes its compile cache
 * only at exit, which a SIGKILL or an OOM kill never reaches, so the operator writes it once it is
 * ready. The cache goes to the OS temp folder (an emptyDir in the chart, which outlives the
 * container), here a folder of the test's own. The test's environment must not set
 * NODE_COMPILE_CACHE, which would put it elsewhere.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { waitFor } from "../harness/process.ts";
import { operatorGroup, startOperator } from "./operator.ts";

const temp = mkdtempSync(join(tmpdir(), "dc-compile-cache-"));
after(() => rmSync(temp, { recursive: true, force: true }));

function cachedFiles(dir: string): number {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
      .length;
  } catch {
    return 0;
  }
}

describe("the compile cache", () => {
  it("is on disk while the operator runs, before anything kills it", async () => {
    assert.equal(process.env.NODE_COMPILE_CACHE, undefined);
    const operator = await startOperator(
      "compile-cache",
      operatorGroup(),
      ["--namespace", "dc-compile-cache"],
      {
        TMPDIR: temp,
      },
    );
    try {
      await operator.waitForLog('"worker started"');
      // Hundreds of modules, the operator's own and its libraries'.
      await waitFor(
        "the compile cache on disk",
        async () => (cachedFiles(join(temp, "node-compile-cache")) > 100 ? true : undefined),
        { timeoutMs: 10_000, intervalMs: 100 },
      );
    } finally {
      await operator.stop("SIGKILL");
    }
  });
});
