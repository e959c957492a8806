/**
 * Starting, watching and stopping the test world's processes. Each runs in its own process group
 * with its output in a log file, so that teardown can kill whole groups by PID and a failure can
 * show what the component said.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  /** Set once the process has exited, with its code or signal. */
  exit?: string;
}

/** The last lines a component logged, for error messages. */
export function logTail(logFile: string, lines = 30): string {
  try {
    return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Signals a whole process group (a component and anything it forked). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Stops process groups: SIGTERM, then SIGKILL for any still alive after the grace period. */
export async function stopGroups(pids: number[], graceMs = 10_000): Promise<void> {
  for (const pid of pids) killGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(100);
  for (const pid of pids.filter(isAlive)) killGroup(pid, "SIGKILL");
  while (pids.some(isAlive)) await sleep(50);
}

/**
 * Stops the processes a supervisor's PID file lists once this process is gone, even killed
 * outright (watchdog.ts, detached, so it outlives this process).
 */
export function startWatchdog(pidFile: string): void {
  spawn(process.execPath, [join(import.meta.dirname, "watchdog.ts"), String(process.pid), pidFile], {
    detached: true,
    stdio: "ignore",
  }).unref();
}

export class Supervisor {
  readonly processes: ManagedProcess[] = [];
  readonly logDir: string;
  /** Where the PIDs are kept for whoever must clean up if this process dies (watchdog, world:down). */
  readonly pidFile: string;

  /** Detached supervisors start processes that outlive this one (a world left running for people). */
  private readonly detached: boolean;

  constructor(logDir: string, options: { detached?: boolean } = {}) {
    this.logDir = logDir;
    this.detached = options.detached ?? false;
    this.pidFile = join(logDir, "pids.json");
    this.savePids();
  }

  private savePids(): void {
    const tmp = `${this.pidFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.processes.map(({ name, pid }) => ({ name, pid }))));
    renameSync(tmp, this.pidFile);
  }

  start(spec: ProcessSpec): ManagedProcess {
    const logFile = join(this.logDir, `${spec.name}.log`);
    const fd = openSync(logFile, "a");
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`${spec.name}: could not start ${spec.command}`);
    const managed: ManagedProcess = { name: spec.name, pid: child.pid, logFile };
    child.on("exit", (code, signal) => {
      managed.exit = signal ? `signal ${signal}` : `exit code ${code}`;
    });
    // A long-lived world for people must not keep the starting command alive.
    if (this.detached) child.unref();
    this.processes.push(managed);
    this.savePids();
    return managed;
  }

  /** Stops everything, newest first, so clients go before the servers they talk to. */
  async stopAll(): Promise<void> {
    // An exited process's PID may already belong to someone else: never signal it.
    const pids = this.processes
      .filter((p) => p.exit === undefined)
      .map((p) => p.pid)
      .reverse();
    for (const pid of pids) {
      killGroup(pid, "SIGTERM");
      const deadline = Date.now() + 10_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    }
    await stopGroups(pids, 0);
    rmSync(this.pidFile, { force: true });
  }
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** The process whose death ends the wait early, and whose log explains a failure. */
  process?: ManagedProcess;
}

/**
 * Polls until `probe` returns a value (not undefined) or throws no more. The error on timeout says
 * what was awaited, the last failure, and the component's last log lines.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T> {
  const started = Date.now();
  let last = "no answer yet";
  for (;;) {
    if (options.process?.exit) {
      throw new Error(
        `${what}: ${options.process.name} exited (${options.process.exit}) before it was ready. ` +
          `Last log lines (${options.process.logFile}):\n${logTail(options.process.logFile)}`,
      );
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() - started > options.timeoutMs) {
      const tail = options.process
        ? `\nLast log lines (${options.process.logFile}):\n${logTail(options.process.logFile)}`
        : "";
      throw new Error(`${what}: not ready after ${options.timeoutMs / 1000}s (last: ${last})${tail}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** An ephemeral port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/**
 * Starts a server on ports from freePort and waits for it, again with fresh ports when the server
 * exits before it is ready: another process can take a port between choosing and binding it, and
 * servers do not always say so (one crashes on a nil listener). `start` hands each process it
 * starts to `track`; a server that keeps failing fails with its last error.
 */
export async function onFreshPorts<T>(
  start: (track: (process: ManagedProcess) => ManagedProcess, attempt: number) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let started: ManagedProcess | undefined;
    try {
      return await start((process) => {
        started = process;
        return process;
      }, attempt);
    } catch (err) {
      if (started?.exit === undefined || attempt === attempts) throw err;
    }
  }
}
