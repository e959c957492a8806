/**
 * The Canary phases (Flagger's names) and which transitions between them are legal, plus the
 * `Promoted` condition each phase projects to.
 */
import type { CanaryPhase } from "../../src/api/canary.ts";

/** Phase → phases it may move to (staying in the same phase is always allowed). */
export const PHASE_TRANSITIONS: Readonly<Record<CanaryPhase, readonly CanaryPhase[]>> = {
  Initializing: ["Initialized", "Terminating"],
  Initialized: ["Waiting", "Progressing", "Terminating"],
  Waiting: ["Progressing", "Promoting", "Failed", "Terminating"],
  Progressing: ["WaitingPromotion", "Promoting", "Failed", "Terminating"],
  WaitingPromotion: ["Progressing", "Promoting", "Failed", "Terminating"],
  Promoting: ["Finalising", "Terminating"],
  Finalising: ["Succeeded", "Terminating"],
  Succeeded: ["Waiting", "Progressing", "Terminating"],
  Failed: ["Waiting", "Progressing", "Terminating"],
  Terminating: ["Terminated"],
  Terminated: [],
};

export function canTransition(from: CanaryPhase, to: CanaryPhase): boolean {
  return from === to || PHASE_TRANSITIONS[from].includes(to);
}

/** Nothing is rolling out: the workflow waits for a revision without any timer. */
export function isIdle(phase: CanaryPhase): boolean {
  return phase === "Initialized" || phase === "Succeeded" || phase === "Failed";
}

/** Analysis runs every interval in these phases. */
export function isAnalysing(phase: CanaryPhase): boolean {
  return phase === "Progressing" || phase === "WaitingPromotion";
}

/** A rollout can still be rolled back or skipped: the primary has not taken the new revision. */
export function isBeforePromotion(phase: CanaryPhase): boolean {
  return phase === "Waiting" || isAnalysing(phase);
}

/** A rollout is under way, from the first gate to the end of promotion. */
export function isRollingOut(phase: CanaryPhase): boolean {
  return isBeforePromotion(phase) || phase === "Promoting" || phase === "Finalising";
}

export type ConditionStatus = "True" | "False" | "Unknown";

/** Status of the `Promoted` condition in each phase, as Flagger reports it; its reason is the phase. */
export function promotedConditionStatus(phase: CanaryPhase): ConditionStatus {
  switch (phase) {
    case "Initialized":
    case "Succeeded":
      return "True";
    case "Failed":
      return "False";
    default:
      return "Unknown";
  }
}
