/**
 * PostgreSQL for the cluster world: a database cluster of its own in a folder, listening on
 * 127.0.0.1 only with trust authentication, and a unix socket inside that folder. PostgreSQL refuses
 * to run as root, so as root its programs run as the system's `postgres` user (Debian's package
 * creates it), switched to by setpriv, which execs: the PID the supervisor records is PostgreSQL's.
 */
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { runCommand } from "../../src/config/install.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { freePort, type ManagedProcess, onFreshPorts, type Supervisor, waitFor } from "./process.ts";
import { stopProcess } from "./stop-process.ts";

const execFileAsync = promisify(execFile);

/** The database superuser initdb creates; Temporal and its SQL tool connect as it. */
export const postgresUser = "postgres";

const readyTimeoutMs = 60_000;
/** A fast shutdown checkpoints first; past this, the stop becomes a kill. */
const shutdownTimeoutMs = 30_000;
/** The longest a socket path may be (sun_path less the terminating NUL). */
const maxSocketPathLength = 107;

export interface PostgresServer {
  host: string;
  port: number;
  dataDir: string;
  readonly process: ManagedProcess;
  /**
   * Stops the server and starts it again on the same port and data once `downMs` have passed.
   * SIGTERM asks for a fast shutdown (PostgreSQL's SIGINT: its own SIGTERM waits for every client,
   * and Temporal's pooled connections never leave); SIGKILL kills the postmaster, as a crash would.
   */
  restart(options?: { downMs?: number; signal?: "SIGTERM" | "SIGKILL" }): Promise<void>;
  /** Stops the server (fast shutdown), unless it already exited. */
  stop(): Promise<void>;
  /** Runs SQL with psql in `database` and returns its unaligned, tuples-only output. */
  query(database: string, sql: string): Promise<string>;
}

interface Owner {
  uid: number;
  gid: number;
}

/** The user PostgreSQL runs as: the `postgres` system user when we are root, else ourselves. */
function databaseOwner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) =>
      Number(execFileSync("id", [flag, postgresUser], { encoding: "utf8" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    throw new Error(
      `PostgreSQL refuses to run as root and there is no ${postgresUser} user to run it as: ` +
        "install Debian's postgresql package (npm run tools), which creates it, or run as another user",
    );
  }
}

/** The command line that runs `command` as the database owner. */
function asOwner(
  owner: Owner | undefined,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  if (!owner) return { command, args };
  return {
    command: "setpriv",
    args: [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--init-groups", command, ...args],
  };
}

/**
 * The owner must be able to walk down to its data: a folder made by mkdtemp (mode 0700) stops it.
 * Such folders get search permission for others (not read: their listings stay private).
 */
function letOwnerReach(owner: Owner | undefined, dir: string): void {
  if (!owner) return;
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    const { mode, uid } = statSync(d);
    if (uid !== owner.uid && (mode & 0o001) === 0) chmodSync(d, mode | 0o001);
  }
}

/** Server settings given on its command line, so that a restart repeats them exactly. */
function serverArgs(dataDir: string, socketDir: string, port: number): string[] {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    // A long folder cannot hold a socket; then TCP alone serves.
    unix_socket_directories:
      join(socketDir, `.s.PGSQL.${port}`).length <= maxSocketPathLength ? socketDir : "",
    max_connections: "200",
    // Only an operating system crash loses unsynced writes; a killed server loses nothing.
    fsync: "off",
  };
  return ["-D", dataDir, ...Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`])];
}

/** Backends that outlive a killed postmaster, found by their working directory, the data folder. */
function orphanedBackends(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dataDir) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to look at.
    }
  }
  return pids;
}

/**
 * Creates a database cluster in `<dir>/data` and starts PostgreSQL on it. Restarts log to
 * `<name>-2.log`, `<name>-3.log`... (each start is a process of its own for the supervisor).
 */
export async function startPostgres(
  sup: Supervisor,
  options: { dir: string; name?: string; log?: (line: string) => void },
): Promise<PostgresServer> {
  const name = options.name ?? "postgres";
  const dir = resolve(options.dir);
  const dataDir = join(dir, "data");
  const socketDir = join(dir, "run");
  const owner = databaseOwner();
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(socketDir, { recursive: true });
  letOwnerReach(owner, dataDir);
  if (owner) {
    for (const d of [dir, dataDir, socketDir]) chownSync(d, owner.uid, owner.gid);
  }
  chmodSync(dataDir, 0o700);

  const initdb = asOwner(owner, requireBinary("initdb"), [
    "-D",
    dataDir,
    "-U",
    postgresUser,
    "--auth=trust",
    "--encoding=UTF8",
    "--no-locale",
    "--no-sync",
  ]);
  await runCommand(initdb.command, initdb.args, {
    what: "initdb",
    log: options.log ?? (() => {}),
  });

  const postgres = requireBinary("postgres");
  const psql = requireBinary("psql");
  const host = "127.0.0.1";
  let port = 0;
  let starts = 0;
  let current: ManagedProcess | undefined;

  const query = async (database: string, sql: string): Promise<string> => {
    const { stdout } = await execFileAsync(
      psql,
      ["-h", host, "-p", String(port), "-U", postgresUser, "-d", database, "-X", "-A", "-t", "-q", "-c", sql],
      {
        env: { ...process.env, PGCONNECT_TIMEOUT: "2" },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 60_000,
      },
    ).then(undefined, (err: NodeJS.ErrnoException & { stderr?: string }) => {
      throw new Error(`psql ${database}: ${err.stderr?.trim() || err.message}`);
    });
    return stdout.trim();
  };
  const start = async (atPort: number, track: (p: ManagedProcess) => ManagedProcess): Promise<void> => {
    starts++;
    const cmd = asOwner(owner, postgres, serverArgs(dataDir, socketDir, atPort));
    current = track(
      sup.start({
        name: starts === 1 ? name : `${name}-${starts}`,
        command: cmd.command,
        args: cmd.args,
        cwd: dataDir,
      }),
    );
    const proc = current;
    await waitFor(`PostgreSQL on ${host}:${atPort}`, () => query("postgres", "select 1").then(() => true), {
      timeoutMs: readyTimeoutMs,
      intervalMs: 100,
      process: proc,
    });
  };

  await onFreshPorts(async (track) => {
    port = await freePort();
    await start(port, track);
  });

  const stop = async (signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> => {
    if (current) await stopProcess(current, signal === "SIGKILL" ? "SIGKILL" : "SIGINT", shutdownTimeoutMs);
  };

  return {
    host,
    get port() {
      return port;
    },
    dataDir,
    get process() {
      if (!current) throw new Error("PostgreSQL was never started");
      return current;
    },
    async restart({ downMs = 0, signal = "SIGTERM" } = {}) {
      await stop(signal);
      await sleep(downMs);
      // A new postmaster will not share the data with backends of a killed one; they notice its
      // death and exit on their own.
      await waitFor(
        `backends of the stopped PostgreSQL in ${dataDir} to exit`,
        async () => (orphanedBackends(dataDir).length === 0 ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      await start(port, (p) => p);
    },
    stop: () => stop("SIGTERM"),
    query,
  };
}
