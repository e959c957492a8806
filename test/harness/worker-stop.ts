/**
 * Stops a test's Temporal worker between workflow tasks: a worker stopped inside one that runs
 * local activities does not drain with this SDK release (docs/recovery.md).
 */
import type { Worker } from "@temporalio/worker";
import { waitFor } from "./process.ts";

export async function stopBetweenTasks(worker: Worker, running: Promise<void> | undefined): Promise<void> {
  await waitFor(
    "the worker between tasks",
    async () => {
      const status = worker.getStatus();
      return status.numInFlightWorkflowActivations === 0 && status.numInFlightLocalActivities === 0
        ? true
        : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 10 },
  );
  worker.shutdown();
  await running;
}
