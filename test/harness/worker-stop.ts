/**
 * Stops a test's Temporal worker between workflow tasks: a worker stopped inside one that runs
 * local activities does not drain with this SDK release (docs/recovery.md). "Between" means
 * nothing in flight for a few consecutive looks, since a task can arrive between two of them.
 */
import type { Worker } from "@temporalio/worker";
import { waitFor } from "./process.ts";

const QUIET_LOOKS = 5;

export async function stopBetweenTasks(worker: Worker, running: Promise<void> | undefined): Promise<void> {
  let quiet = 0;
  try {
    await waitFor(
      "the worker between tasks",
      async () => {
        const status = worker.getStatus();
        const idle =
          status.numInFlightWorkflowActivations === 0 &&
          status.numInFlightActivities === 0 &&
          status.numInFlightLocalActivities === 0;
        quiet = idle ? quiet + 1 : 0;
        return quiet >= QUIET_LOOKS ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
  } finally {
    // Never busy for 10 s is a stuck test: stop anyway, bounded by the worker's shutdownForceTime.
    worker.shutdown();
    await running;
  }
}
