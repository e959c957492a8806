/**
 * Runs the command line as a user does: `node src/main.ts …` as a child process (so stdout is not
 * a terminal), against the test world's Temporal, with a kubeconfig of its own whose context
 * names the test's namespace and a user.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { worldEnv } from "../harness/world-env.ts";

export const mainPath = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
export const pluginPath = fileURLToPath(new URL("../../src/cli/kubectl-canary.ts", import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A kubeconfig whose current context has this namespace and user (no cluster is contacted). */
export function kubeconfig(namespace: string, user: string): string {
  const dir = mkdtempSync(join(tmpdir(), "durable-canary-cli-"));
  const path = join(dir, "config");
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
      `users: [{name: ${user}, user: {token: t}}]`,
      `contexts: [{name: ctx, context: {cluster: c, user: ${user}, namespace: ${namespace}}}]`,
      "current-context: ctx",
    ].join("\n"),
  );
  return path;
}

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: worldEnv().temporalAddress, ...extra };
  const namespace = worldEnv().temporalNamespace;
  if (namespace !== "default") env.TEMPORAL_NAMESPACE = namespace;
  return env;
}

export interface RunningCli {
  /** Settles when the command first writes to stdout (a watch has read the status once). */
  readonly firstOutput: Promise<void>;
  readonly done: Promise<CliResult>;
}

/** Starts the command; it is killed after two minutes (exit code 1). */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv, entry = mainPath): RunningCli {
  const child = spawn(process.execPath, [entry, ...args], { env, timeout: 120_000 });
  let stdout = "";
  let stderr = "";
  const firstOutput = new Promise<void>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      resolve();
    });
    child.on("close", () => resolve());
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
  return { firstOutput, done };
}

export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  entry = mainPath,
): Promise<CliResult> {
  return startCli(args, env, entry).done;
}
