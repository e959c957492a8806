/**
 * Access to the Temporal activity context when there is one: activities also run outside a worker
 * (the CLI's direct calls, tests of single effects), and then there is nothing to heartbeat to.
 */
import { Context } from "@temporalio/activity";

export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export interface WaitControl {
  /** Aborted when the workflow cancels the activity (an operator aborted the rollout). */
  readonly signal: AbortSignal | undefined;
  readonly heartbeat: () => void;
  /** When the activity was first scheduled (across retries), or now outside a worker. */
  readonly sinceMs: number;
}

/**
 * How long an activity may wait and still report back before its start-to-close timeout (a few
 * seconds of margin); `fallbackMs` outside a worker.
 */
export function waitBudgetMs(nowMs: number, fallbackMs: number): number {
  const info = currentActivity()?.info;
  if (!info?.startToCloseTimeoutMs) return fallbackMs;
  const elapsed = nowMs - info.currentAttemptScheduledTimestampMs;
  return Math.max(1000, info.startToCloseTimeoutMs - elapsed - 5000);
}

export function waitControl(nowMs: number): WaitControl {
  const context = currentActivity();
  return {
    signal: context?.cancellationSignal,
    heartbeat: () => context?.heartbeat(),
    sinceMs: context?.info.scheduledTimestampMs ?? nowMs,
  };
}

/** A stable ID of this activity invocation (the same across its retries), or undefined outside a worker. */
export function invocationId(): string | undefined {
  const info = currentActivity()?.info;
  if (!info) return undefined;
  return `${info.workflowExecution?.runId ?? info.activityRunId ?? ""}/${info.activityId}`;
}
