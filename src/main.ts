#!/usr/bin/env node
/**
 * The durable-canary command. `run` (the default) connects to Temporal — or starts the embedded
 * dev server when TEMPORAL_ADDRESS is unset — and runs the worker that hosts every canary.
 */
import { readFileSync } from "node:fs";
import { loadYaml } from "@kubernetes/client-node";
import { Runtime } from "@temporalio/worker";
import { Command } from "commander";
import { parseOperatorConfig } from "./config/operator.ts";
import { createLogger, temporalLogger } from "./log.ts";
import { connectWorker, loadTemporalSettings, openTemporal } from "./temporal/connection.ts";
import { runWorker } from "./worker.ts";

interface RunOptions {
  kubeconfig?: string;
  config?: string;
}

async function run(options: RunOptions): Promise<void> {
  const log = createLogger();
  Runtime.install({ logger: temporalLogger(log) });
  const config = parseOperatorConfig(options.config ? loadYaml(readFileSync(options.config, "utf8")) : {});
  const settings = loadTemporalSettings();
  const target = await openTemporal(settings, {
    handleSignals: false,
    log: (line) => log.info(line),
  });
  try {
    const connection = await connectWorker(target);
    await runWorker({ connection, namespace: target.namespace, config, kubeconfig: options.kubeconfig, log });
    await connection.close();
  } finally {
    await target.embedded?.stop();
  }
}

const program = new Command("durable-canary")
  .description("Progressive delivery for Kubernetes in which every canary is a durable Temporal workflow")
  .showHelpAfterError();

program
  .command("run", { isDefault: true })
  .description("run the worker, with an embedded Temporal server when TEMPORAL_ADDRESS is not set")
  .option(
    "--kubeconfig <path>",
    "kubeconfig of the cluster to act on (default: KUBECONFIG, in-cluster, ~/.kube/config)",
  )
  .option(
    "--config <path>",
    "operator configuration (YAML or JSON): mesh provider, metrics server, global alerts",
  )
  .action((options: RunOptions) => run(options));

await program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`durable-canary: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
