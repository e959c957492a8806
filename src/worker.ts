/**
 * The worker process: hosts the canary workflow and its activities on task queue
 * `durable-canary`. Stateless; run as many as you like against one Temporal namespace.
 */
import { ApplicationFailure } from "@temporalio/common";
import { type NativeConnection, Worker } from "@temporalio/worker";
import { createCanaryActivities, type WorkloadSettings } from "../activities/index.ts";
import { resolvingSpecs } from "../activities/target-spec.ts";
import { shareWorkloadWatches } from "../activities/workload-watches.ts";
import { type CanaryActivities, NON_RETRYABLE_ERRORS } from "../workflows/activity-port.ts";
import { TASK_QUEUE } from "../workflows/messages.ts";
import type { OperatorConfig } from "./config/operator.ts";
import { createKubeClient } from "./kube/client.ts";
import { errorMessage, type Logger } from "./log.ts";
import { workerTuning } from "./temporal/worker-tuning.ts";
import { loadWorkflowBundle, type WorkflowBundle } from "./temporal/workflow-bundle.ts";

export { loadWorkflowBundle, type WorkflowBundle };

/** Every activity of the port; the compiler checks the list is complete. */
const activityNames = {
  initialize: true,
  checkPrimaryReady: true,
  primaryReadiness: true,
  stepReadiness: true,
  waitCanaryReady: true,
  scaleCanary: true,
  getRoutes: true,
  setRoutes: true,
  promote: true,
  runWebhooks: true,
  runMetrics: true,
  syncStatus: true,
  recordEvent: true,
  report: true,
  alert: true,
  finalize: true,
} satisfies Record<keyof CanaryActivities, true>;

/**
 * The activities, with the Kubernetes client made on first use: a worker starts (and replays,
 * answers queries) without a cluster, and an activity that needs one says what is missing.
 */
function lazyActivities(options: WorkerOptions): CanaryActivities {
  let activities: CanaryActivities | undefined;
  const get = (): CanaryActivities => {
    if (!activities) {
      try {
        const kube = createKubeClient({ kubeconfig: options.kubeconfig });
        shareWorkloadWatches(kube, { allNamespaces: options.allNamespaces === true });
        activities = createCanaryActivities({
          kube,
          config: options.config,
          settings: options.settings,
        });
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `cannot reach Kubernetes: ${errorMessage(err)}`,
          NON_RETRYABLE_ERRORS.invalidSpec,
        );
      }
    }
    return activities;
  };
  return Object.fromEntries(
    Object.keys(activityNames).map((name) => [
      name,
      (...args: unknown[]) =>
        (get()[name as keyof CanaryActivities] as (...a: unknown[]) => unknown)(...args),
    ]),
  ) as unknown as CanaryActivities;
}

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  config: OperatorConfig;
  kubeconfig?: string | undefined;
  log: Logger;
  /** Default: `durable-canary`, the queue the controller starts workflows on. */
  taskQueue?: string;
  /** Canary workflows kept in memory; default DEFAULT_WORKFLOW_CACHE_SIZE. */
  workflowCacheSize?: number;
  /**
   * The operator watches every namespace (no --namespace): readiness waits share one watch per
   * workload kind across all of them; else one per kind and namespace, which a Role allows.
   */
  allNamespaces?: boolean;
  /** Operator-wide workload settings for the activities; Flagger's defaults where left out. */
  settings?: Partial<WorkloadSettings>;
  /** How long in-flight activities may run on after shutdown begins before they are cancelled. Default 30s. */
  shutdownGraceMs?: number;
  /** Aborting it stops the worker as SIGINT/SIGTERM do: it drains in-flight tasks, then runWorker returns. */
  signal?: AbortSignal;
  /** The workflow code, when loaded ahead (loadWorkflowBundle); else runWorker loads it. */
  workflowBundle?: WorkflowBundle;
  /** Called once the worker polls its task queue. */
  onPolling?: () => void;
}

/** Runs until the process receives SIGINT or SIGTERM or `signal` aborts, then drains in-flight tasks and returns. */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue,
    workflowBundle: options.workflowBundle ?? (await loadWorkflowBundle(options.log)),
    activities: resolvingSpecs(lazyActivities(options)),
    ...workerTuning,
    maxCachedWorkflows: options.workflowCacheSize ?? workerTuning.maxCachedWorkflows,
    shutdownGraceTime: options.shutdownGraceMs ?? 30_000,
    // A stop that lands inside a workflow task running local activities may never drain with
    // this SDK version; the worker then gives up this much later, and another takes the task.
    shutdownForceTime: (options.shutdownGraceMs ?? 30_000) + 15_000,
  });
  const running = worker.run();
  const stop = () => {
    if (worker.getState() === "RUNNING") worker.shutdown();
  };
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  options.log.info({ taskQueue, namespace: options.namespace }, "worker started");
  options.onPolling?.();
  try {
    await running;
  } finally {
    options.signal?.removeEventListener("abort", stop);
  }
  options.log.info("worker stopped");
}
