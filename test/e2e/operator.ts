/**
 * The operator as its own OS process, `node src/main.ts run`, exactly as a user starts it: the
 * operator's service-account kubeconfig, the test world's Temporal, and a task queue and Lease of
 * its own so concurrent test files never share work. Its log goes to a file in the world's folder.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { operatorNamespace } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";

const mainFile = join(import.meta.dirname, "../../src/main.ts");

export interface OperatorGroup {
  /** Shared by every process of the group: one install. */
  readonly taskQueue: string;
  readonly leaseId: string;
}

export function operatorGroup(): OperatorGroup {
  const id = randomUUID().slice(0, 8);
  return { taskQueue: `e2e-${id}`, leaseId: `e2e-${id}` };
}

export class OperatorProcess {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  #output = "";
  #url: string | undefined;
  readonly exited: Promise<void>;

  constructor(
    name: string,
    group: OperatorGroup,
    args: readonly string[] = [],
    env: Readonly<Record<string, string>> = {},
  ) {
    const world = worldEnv();
    this.name = name;
    const dir = join(world.dir, "operators");
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${name}-${process.pid}-${Date.now()}.log`);
    const log = createWriteStream(this.logFile);
    this.#child = spawn(
      process.execPath,
      [
        mainFile,
        "run",
        "--kubeconfig",
        world.operatorKubeconfig,
        "--listen",
        "127.0.0.1:0",
        "--task-queue",
        group.taskQueue,
        "--leader-election-namespace",
        operatorNamespace,
        "--leader-election-id",
        group.leaseId,
        "--lease-duration",
        "6s",
        "--metrics-server",
        world.prometheusUrl,
        ...args,
      ],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: world.temporalAddress,
          TEMPORAL_NAMESPACE: world.temporalNamespace,
          LOG_LEVEL: "debug",
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const take = (chunk: Buffer) => {
      log.write(chunk);
      this.#output = (this.#output + chunk.toString()).slice(-200_000);
      const served = /"url":"(http:\/\/[^"]+)"[^\n]*serving/.exec(this.#output);
      if (served) this.#url ??= served[1];
    };
    this.#child.stdout?.on("data", take);
    this.#child.stderr?.on("data", take);
    this.exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    void this.exited.then(() => log.end());
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get output(): string {
    return this.#output;
  }

  get url(): string {
    if (!this.#url) throw new Error(`${this.name} serves no HTTP yet`);
    return this.#url;
  }

  /** Waits for a log line containing `text` (JSON log lines: a message or a field). */
  async waitForLog(text: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${this.name}: log line ${JSON.stringify(text)}`,
      async () => {
        if (this.#output.includes(text)) return true;
        if (!this.alive) throw new Error(`${this.name} exited; see ${this.logFile}`);
        return undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  async ready(timeoutMs = 60_000): Promise<this> {
    await this.waitForLog('"operator ready"', timeoutMs);
    return this;
  }

  async get(path: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`${this.url}${path}`);
    return { status: response.status, body: await response.text() };
  }

  /** The process's exit code once it exits by itself (null when a signal ended it). */
  async exitCode(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} still runs after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
    return this.#child.exitCode;
  }

  /** SIGTERM (graceful) or SIGKILL; resolves once the process is gone. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    if (!this.alive) return;
    this.#child.kill(signal);
    const killer = setTimeout(() => this.#child.kill("SIGKILL"), 30_000);
    await this.exited;
    clearTimeout(killer);
  }
}

export async function startOperator(
  name: string,
  group: OperatorGroup,
  args: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<OperatorProcess> {
  const operator = new OperatorProcess(name, group, args, env);
  try {
    return await operator.ready();
  } catch (err) {
    await operator.stop("SIGKILL");
    throw err;
  }
}
