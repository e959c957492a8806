/**
 * The rollout workflows (workflows/rollout.ts) kept in step with the canary: one begins with each
 * rollout (a new revision, a retry) and is told its outcome when the rollout ends, is superseded
 * or deleted. Neither can hold the canary: a failure to start or tell one is logged and the
 * canary goes on.
 */
import {
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  startChild,
  workflowInfo,
} from "@temporalio/workflow";
import { searchAttributes } from "../../src/temporal/search-attributes.ts";
import { isRollingOut, projectStatus, type RolloutState } from "../decisions/index.ts";
import { type RolloutOutcome, rolloutEndSignal, rolloutWorkflow } from "../rollout.ts";
import { describeError } from "./calls.ts";
import type { Run } from "./run.ts";

/** Begins or ends rollout workflows for the state change from `before` to the run's state. */
export async function trackRollout(run: Run, before: RolloutState): Promise<void> {
  const { state } = run;
  const rolling = isRollingOut(state.phase);
  const began = rolling && (state.revision !== before.revision || !isRollingOut(before.phase));
  if (run.openRollout && (began || !rolling)) {
    const outcome: RolloutOutcome = began
      ? "Superseded"
      : state.phase === "Succeeded" || state.phase === "Failed"
        ? state.phase
        : "Deleted";
    const message = began
      ? `superseded by revision ${state.revision}`
      : outcome === "Failed"
        ? `Rolled back revision ${run.openRollout.revision}: ${state.failureReason ?? "failed"}`
        : projectStatus(state).condition.message;
    await endRollout(run, outcome, message);
  }
  if (began) await beginRollout(run);
}

async function beginRollout(run: Run): Promise<void> {
  const { ref, state } = run;
  run.rolloutCount++;
  const info = workflowInfo();
  const id = `${info.workflowId}/rollouts/${info.firstExecutionRunId.slice(0, 8)}-${run.rolloutCount}`;
  const revision = state.revision ?? "";
  const from = state.lastPromotedRevision;
  try {
    await startChild(rolloutWorkflow, {
      workflowId: id,
      args: [{ canary: ref, revision, from }],
      // The rollout outlives the run that began it when the canary workflow continues as new.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `${ref.namespace}/${ref.name}: rollout of revision ${revision} (primary runs ${from ?? "none"})`,
      typedSearchAttributes: [
        { key: searchAttributes.CanaryName, value: ref.name },
        { key: searchAttributes.CanaryNamespace, value: ref.namespace },
        { key: searchAttributes.TargetRevision, value: revision },
      ],
    });
    run.openRollout = { id, revision };
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn("the rollout's workflow did not start", { workflowId: id, error: describeError(err) });
  }
}

async function endRollout(run: Run, outcome: RolloutOutcome, message: string): Promise<void> {
  const open = run.openRollout;
  run.openRollout = undefined;
  if (!open) return;
  try {
    await getExternalWorkflowHandle(open.id).signal(rolloutEndSignal, { outcome, message });
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn("the rollout's workflow could not be told its outcome", {
      workflowId: open.id,
      error: describeError(err),
    });
  }
}
