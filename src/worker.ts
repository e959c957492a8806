/**
 * The worker process: hosts the canary workflow and its activities on task queue
 * `durable-canary`. Stateless; run as many as you like against one Temporal namespace.
 */
import { fileURLToPath } from "node:url";
import { ApplicationFailure } from "@temporalio/common";
import { type NativeConnection, Worker } from "@temporalio/worker";
import { createCanaryActivities } from "../activities/index.ts";
import { type CanaryActivities, NON_RETRYABLE_ERRORS } from "../workflows/activity-port.ts";
import { TASK_QUEUE } from "../workflows/messages.ts";
import type { OperatorConfig } from "./config/operator.ts";
import { createKubeClient } from "./kube/client.ts";
import type { Logger } from "./log.ts";

const workflowsPath = fileURLToPath(
  new URL(`../workflows/index${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url),
);

/** Every activity of the port; the compiler checks the list is complete. */
const activityNames = {
  initialize: true,
  checkPrimaryReady: true,
  waitCanaryReady: true,
  scaleCanary: true,
  getRoutes: true,
  setRoutes: true,
  promote: true,
  runWebhooks: true,
  runMetrics: true,
  syncStatus: true,
  recordEvent: true,
  alert: true,
  finalize: true,
} satisfies Record<keyof CanaryActivities, true>;

/**
 * The activities, with the Kubernetes client made on first use: a worker starts (and replays,
 * answers queries) without a cluster, and an activity that needs one says what is missing.
 */
function lazyActivities(config: OperatorConfig, kubeconfig: string | undefined): CanaryActivities {
  let activities: CanaryActivities | undefined;
  const get = (): CanaryActivities => {
    if (!activities) {
      try {
        activities = createCanaryActivities({ kube: createKubeClient({ kubeconfig }), config });
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `cannot reach Kubernetes: ${err instanceof Error ? err.message : String(err)}`,
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
}

/** Runs until the process receives SIGINT or SIGTERM, then drains in-flight tasks and returns. */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: TASK_QUEUE,
    workflowsPath,
    activities: lazyActivities(options.config, options.kubeconfig),
  });
  options.log.info({ taskQueue: TASK_QUEUE, namespace: options.namespace }, "worker started");
  await worker.run();
  options.log.info("worker stopped");
}
