#!/usr/bin/env node
/**
 * The durable-canary command: wires the commands to the processes that carry them out.
 */
import { Command } from "commander";
import { errorMessage } from "./log.ts";
import { type RunFlags, runOptions } from "./operator/options.ts";
import { runOperator } from "./operator/run.ts";

const program = new Command("durable-canary")
  .description("Progressive delivery for Kubernetes in which every canary is a durable Temporal workflow")
  .showHelpAfterError();

runOptions(
  program
    .command("run", { isDefault: true })
    .description(
      "run the operator: controller and worker (--role), with an embedded Temporal server when TEMPORAL_ADDRESS is not set",
    ),
).action((flags: RunFlags) => runOperator(flags));

await program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`durable-canary: ${errorMessage(err)}\n`);
  process.exitCode = 1;
});
