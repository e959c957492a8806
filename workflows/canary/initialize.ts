/**
 * Initialization: the primary, the Services and the routes are created before any rollout, and
 * the primary's revision is read from the cluster. A failure waits for the next message, which
 * tries again.
 */
import { ActivityCancellationType, isCancellation } from "@temporalio/workflow";
import { activityOptions, type CanaryActivities, type TargetMessage } from "../activity-port.ts";
import { cluster, describeError } from "./calls.ts";
import { feed, feedQuietly } from "./effects.ts";
import { TAKEOVER_PATCH } from "./patches.ts";
import { publish, recordEvent, syncStatus, warn } from "./reporting.ts";
import type { Run } from "./run.ts";
import { interruptible, waitForMail } from "./waits.ts";

export async function initialize(run: Run): Promise<void> {
  publish(run);
  syncStatus(run);
  if (run.hardened()) return initializeInterruptibly(run);
  try {
    await cluster.initialize.executeWithOptions(
      {
        ...activityOptions.cluster,
        startToCloseTimeout: "15m",
        scheduleToCloseTimeout: undefined,
        summary: "create primary, services and routes",
      },
      [run.target()],
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Permanent: the user must fix the spec or create the target; a new message retries.
    const reason = describeError(err);
    run.remember({ message: `Initialization failed: ${reason}` });
    recordEvent(run, { type: "Warning", reason: "Initializing", message: reason });
    await waitForMail(run);
    return;
  }
  run.initialized = true;
  const revision = run.pendingRevision ?? run.state.revision ?? "";
  run.pendingRevision = undefined;
  await feed(run, { type: "initialized", revision });
}

/**
 * Initialization that a message interrupts (a new revision re-runs it with that revision, so a
 * first version that never became ready can be fixed), and that takes the primary's revision
 * from the cluster: an existing primary keeps what it runs, and a newer target revision becomes
 * a rollout instead of being marked promoted.
 */
async function initializeInterruptibly(run: Run): Promise<void> {
  const revision = run.pendingRevision;
  const t: TargetMessage = { ...run.target(), revision };
  run.busyWith = "initializing: creating the primary, services and routes";
  let result: Awaited<ReturnType<CanaryActivities["initialize"]>>;
  try {
    const outcome = await interruptible(run, () =>
      cluster.initialize.executeWithOptions(
        {
          ...activityOptions.cluster,
          startToCloseTimeout: "15m",
          scheduleToCloseTimeout: undefined,
          // Heartbeats carry the cancellation to the activity within seconds.
          heartbeatTimeout: "10s",
          // A cancelled attempt must be over before the next one applies the primary again.
          cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
          summary: "create primary, services and routes",
        },
        [t],
      ),
    );
    run.busyWith = "";
    if (!outcome) return;
    result = outcome.value;
  } catch (err) {
    run.busyWith = "";
    if (isCancellation(err)) throw err;
    // Permanent: the user must fix the spec or create the target; a new message retries.
    warn(run, `Initialization failed: ${describeError(err)}`);
    await waitForMail(run);
    return;
  }
  run.initialized = true;
  run.pendingRevision = undefined;
  const primary = result?.primaryRevision ?? revision ?? "";
  await feedQuietly(run, { type: "initialized", revision: primary });
  if (revision !== undefined && revision !== primary) {
    const rolledBack = result?.rolledBack;
    if (rolledBack?.revision === revision && run.applies(TAKEOVER_PATCH)) {
      recordTakenOverFailure(run, revision, rolledBack.reason);
      return;
    }
    await feedQuietly(run, { type: "revision", revision });
  }
}

/**
 * The target's revision was rolled back (or left half rolled out) by the controller the Canary
 * was taken over from; initialization has put all traffic on the primary and scaled the target
 * down. It stays failed, as a rollback here would leave it: a retry or a new revision rolls out.
 */
function recordTakenOverFailure(run: Run, revision: string, reason: string): void {
  run.state = {
    ...run.state,
    phase: "Failed",
    revision,
    lastFailedRevision: revision,
    failureReason: `${reason}; retry it, or change the target, to roll out again`,
  };
  warn(run, `Revision ${revision} not rolled out: ${run.state.failureReason}`);
  publish(run);
  syncStatus(run);
}
