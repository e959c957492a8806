/**
 * The Canary `.status` fields that project the rollout state, in Flagger's shape, with a
 * condition message that says why (the failure reason, the gate held at, a pause).
 */
import type { CanaryPhase, CanaryStatus } from "../../src/api/canary.ts";
import type { ConditionStatus } from "./phases.ts";
import { promotedConditionStatus } from "./phases.ts";
import type { RolloutState } from "./rollout.ts";

export interface ProjectedStatus
  extends Required<Pick<CanaryStatus, "canaryWeight" | "failedChecks" | "iterations">>,
    Pick<CanaryStatus, "lastAppliedSpec" | "lastPromotedSpec"> {
  readonly phase: CanaryPhase;
  readonly condition: {
    readonly status: ConditionStatus;
    readonly reason: CanaryPhase;
    readonly message: string;
  };
}

export function projectStatus(state: RolloutState): ProjectedStatus {
  return {
    phase: state.phase,
    canaryWeight: state.route.canaryWeight,
    failedChecks: state.failedChecks,
    iterations: state.iterations,
    lastAppliedSpec: state.revision,
    lastPromotedSpec: state.lastPromotedRevision,
    condition: {
      status: promotedConditionStatus(state.phase),
      reason: state.phase,
      message: conditionMessage(state),
    },
  };
}

function conditionMessage(state: RolloutState): string {
  const held = state.gate === undefined ? "" : `; holding at the ${state.gate.type} gate`;
  const paused = state.pausedAtMs === undefined ? "" : "; paused by an operator";
  const revision = state.revision;
  switch (state.phase) {
    case "Initializing":
      return "Creating the primary and the services";
    case "Initialized":
      return `Primary runs revision ${state.lastPromotedRevision}; waiting for a new revision`;
    case "Waiting":
    case "Progressing":
    case "WaitingPromotion":
      return `Analysing revision ${revision}${held}${paused}`;
    case "Promoting":
      return `Promoting revision ${revision} to the primary${paused}`;
    case "Finalising":
      return `Revision ${revision} promoted; scaling down the canary`;
    case "Succeeded":
      return `Revision ${revision} promoted`;
    case "Failed":
      return `Revision ${revision} rolled back: ${state.failureReason}`;
    case "Terminating":
      return "Canary deleted; cleaning up";
    case "Terminated":
      return "Canary deleted";
  }
}
