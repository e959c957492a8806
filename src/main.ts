#!/usr/bin/env node
/**
 * The durable-canary command: wires the commands to the processes that carry them out. Run as
 * `kubectl-canary` (the kubectl plugin), it is the same command line without the operator.
 * Each command loads its code when it runs, so the command line starts fast.
 */
import { basename } from "node:path";
import { Command } from "commander";
import { CLI_COMMANDS, registerCliCommands } from "./cli/program.ts";

const plugin = basename(process.argv[1] ?? "").startsWith("kubectl-");
const program = new Command(plugin ? "kubectl canary" : "durable-canary")
  .description("Progressive delivery for Kubernetes in which every canary is a durable Temporal workflow")
  .showHelpAfterError();

registerCliCommands(program);

// The operator's options load the Kubernetes client (half a second): only for `run` and help.
const first = process.argv[2];
if (!plugin && !(first && CLI_COMMANDS.includes(first))) {
  const { runOptions } = await import("./operator/options.ts");
  runOptions(
    program
      .command("run", { isDefault: true })
      .description(
        "run the operator: controller and worker (--role), with an embedded Temporal server when TEMPORAL_ADDRESS is not set",
      ),
  ).action(async (flags) => (await import("./operator/run.ts")).runOperator(flags));
}

await program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`${program.name()}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
