/**
 * `npm run bundle`: brings the prebuilt workflow bundle up to date with the sources. `npm run
 * build` runs it with --compiled once dist/ is compiled, so the compiled worker uses it too.
 */
import { createLogger, errorMessage } from "../log.ts";
import { writeWorkflowBundle } from "./workflow-bundle.ts";

const log = createLogger();
try {
  await writeWorkflowBundle(log, { compiled: process.argv.includes("--compiled") });
} catch (err) {
  log.error({ error: errorMessage(err) }, "workflow bundle: not built");
  process.exitCode = 1;
}
