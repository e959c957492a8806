/**
 * Runs the canary workflow on the test world's Temporal dev server with the in-memory cluster
 * model as its activities. One worker serves a whole test file; each canary gets its own model.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client, Connection, type WorkflowHandle } from "@temporalio/client";
import {
  bundleWorkflowCode,
  NativeConnection,
  Worker,
  type WorkflowBundleWithSourceMap,
} from "@temporalio/worker";
import { resolvingSpecs } from "../../activities/target-spec.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import type { Alert } from "../../workflows/activity-port.ts";
import type { canaryWorkflow } from "../../workflows/canary.ts";
import { type CanaryStatusView, revisionSignal, statusQuery, workflowId } from "../../workflows/messages.ts";
import { Supervisor, waitFor } from "../harness/process.ts";
import { startTemporal, type TemporalServer } from "../harness/temporal.ts";
import { stopBetweenTasks } from "../harness/worker-stop.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec as buildSpec } from "../unit/helpers/specs.ts";
import { ClusterModel, modelActivities } from "./model.ts";

export const workflowsPath = fileURLToPath(new URL("../../workflows/index.ts", import.meta.url));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow code, bundled once per test process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(message: string, meta?: Record<string, unknown>) {
    console.error(message, meta);
  },
};

export type CanaryHandle = WorkflowHandle<typeof canaryWorkflow>;

export interface Canary {
  name: string;
  handle: CanaryHandle;
  model: ClusterModel;
  spec: ResolvedCanarySpec;
  /** Sends a new target revision (and optionally a new spec) as the controller would. */
  revise(revision: string, spec?: ResolvedCanarySpec): Promise<void>;
  status(): Promise<CanaryStatusView>;
  /** Polls the status query until `predicate` holds. */
  until(
    what: string,
    predicate: (s: CanaryStatusView) => boolean,
    timeoutMs?: number,
  ): Promise<CanaryStatusView>;
  /**
   * Waits until the workflow reached `phase` and wrote it as the Canary's status, which it does
   * after carrying out the phase's effects, then returns the status query's view.
   */
  settled(phase: string, timeoutMs?: number): Promise<CanaryStatusView>;
  /** Waits for an alert: alerts go out in their own lane, after the status they follow. */
  alerted(what: string, predicate: (alert: Alert) => boolean, timeoutMs?: number): Promise<void>;
}

export class WorkflowTestWorld {
  readonly models = new Map<string, ClusterModel>();
  readonly namespace = `wf-${process.pid}-${randomUUID().slice(0, 6)}`;
  readonly taskQueue: string;
  client!: Client;
  private connection: Connection | undefined;
  private workerConnection: NativeConnection | undefined;
  private worker: Worker | undefined;
  private running: Promise<void> | undefined;
  private generation = 1;
  private temporalNamespace = "default";

  constructor(taskQueue = `canary-tests-${randomUUID()}`) {
    this.taskQueue = taskQueue;
  }

  /** Connects to the test world's Temporal, or to another server (e.g. one with special dynamic config). */
  async connect(server?: { address: string; namespace: string }): Promise<void> {
    const { address, namespace } = server ?? {
      address: worldEnv().temporalAddress,
      namespace: worldEnv().temporalNamespace,
    };
    this.temporalNamespace = namespace;
    this.connection = await Connection.connect({ address });
    this.client = new Client({ connection: this.connection, namespace });
    this.workerConnection = await NativeConnection.connect({ address });
  }

  /** Starts a worker on the task queue (again, after stopWorker, for durability tests). */
  async startWorker(): Promise<void> {
    if (!this.workerConnection) throw new Error("connect() before startWorker()");
    this.worker = await Worker.create({
      connection: this.workerConnection,
      namespace: this.temporalNamespace,
      taskQueue: this.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: resolvingSpecs(modelActivities(this.models)),
      // A test that failed mid-activity must not hold its file open past the test runner's timeout.
      shutdownForceTime: "15s",
    });
    this.running = this.worker.run();
  }

  async stopWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    // Forgotten first: a worker that failed to stop must not be stopped again by close().
    this.worker = undefined;
    await stopBetweenTasks(worker, this.running);
  }

  async close(): Promise<void> {
    await this.stopWorker();
    // Undefined when connect() failed: the hook must not hide that error with its own.
    await this.workerConnection?.close();
    await this.connection?.close();
  }

  /**
   * Signal-with-start, as the controller does: the canary initializes at revision r1. `prepare`
   * sets up the model's cluster first; `initialized: false` returns without waiting for it.
   */
  async startCanary(
    name: string,
    spec: ResolvedCanarySpec,
    initialRevision = "r1",
    options: { prepare?: (model: ClusterModel) => void; initialized?: boolean } = {},
  ): Promise<Canary> {
    const model = new ClusterModel(initialRevision);
    options.prepare?.(model);
    this.models.set(`${this.namespace}/${name}`, model);
    const handle = await this.client.workflow.signalWithStart("canaryWorkflow", {
      workflowId: workflowId(this.namespace, name),
      taskQueue: this.taskQueue,
      args: [{ ref: { namespace: this.namespace, name } }],
      signal: revisionSignal,
      signalArgs: [{ revision: initialRevision, spec, generation: this.generation++ }],
      staticSummary: `canary ${this.namespace}/${name}`,
    });
    const canary: Canary = {
      name,
      handle: this.client.workflow.getHandle(handle.workflowId),
      model,
      spec,
      revise: async (revision, newSpec) => {
        if (newSpec) canary.spec = newSpec;
        await canary.handle.signal(revisionSignal, {
          revision,
          spec: canary.spec,
          generation: this.generation++,
        });
      },
      status: () => canary.handle.query(statusQuery),
      until: (what, predicate, timeoutMs = 30_000) =>
        waitFor(
          `${name}: ${what}`,
          async () => {
            const status = await canary.status();
            if (predicate(status)) return status;
            const last = status.timeline.at(-1)?.message ?? "nothing yet";
            throw new Error(`phase ${status.phase}: ${status.message} (last: ${last})`);
          },
          { timeoutMs, intervalMs: 50 },
        ),
      settled: async (phase, timeoutMs = 30_000) => {
        await canary.until(phase, (s) => s.phase === phase, timeoutMs);
        await waitFor(
          `${name}: status ${phase} written`,
          async () => model.lastStatus?.phase === phase || undefined,
          { timeoutMs, intervalMs: 20 },
        );
        return canary.status();
      },
      alerted: async (what, predicate, timeoutMs = 10_000) => {
        await waitFor(`${name}: alert ${what}`, async () => model.alerts.some(predicate) || undefined, {
          timeoutMs,
          intervalMs: 20,
        });
      },
    };
    if (options.initialized !== false) await canary.settled("Initialized");
    return canary;
  }
}

/** A valid, defaulted spec for workflow tests: short intervals so a rollout takes seconds. */
export function canarySpec(analysis: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return buildSpec(
    {
      interval: "300ms",
      threshold: 2,
      metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
      ...analysis,
    },
    extra,
  );
}

/**
 * For scripts (benchmarks, recording histories): a Temporal dev server of their own and a worker
 * on it with the cluster models, then `body`; all of it is stopped afterwards.
 */
export async function withOwnServer<T>(
  name: string,
  body: (world: WorkflowTestWorld, server: TemporalServer) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `durable-canary-${name}-`));
  const supervisor = new Supervisor(dir);
  const world = new WorkflowTestWorld();
  try {
    const server = await startTemporal(supervisor, { dir });
    await world.connect(server);
    await world.startWorker();
    return await body(world, server);
  } finally {
    await world.close();
    await supervisor.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
