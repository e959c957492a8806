/**
 * What a newly observed target revision does to the canary: start a rollout, restart the one
 * under analysis, wait until it can start, or nothing.
 */
import type { CanaryPhase } from "../../src/api/canary.ts";
import { isBeforePromotion, isIdle } from "./phases.ts";

export type RevisionAction = "start" | "restart" | "queue" | "ignore";

export interface RevisionDecision {
  readonly action: RevisionAction;
  readonly reason: string;
}

export interface RevisionContext {
  readonly phase: CanaryPhase;
  /** Revision of the rollout under way, or of the last one. */
  readonly revision: string | undefined;
  readonly lastPromotedRevision: string | undefined;
  readonly lastFailedRevision: string | undefined;
  readonly suspended: boolean;
}

export function decideRevision(context: RevisionContext, incoming: string): RevisionDecision {
  const { phase } = context;
  if (phase === "Terminating" || phase === "Terminated") {
    return { action: "ignore", reason: "the canary is being deleted" };
  }
  if (!isIdle(phase) && phase !== "Initializing" && incoming === context.revision) {
    return { action: "ignore", reason: `revision ${incoming} is already rolling out` };
  }
  if (isIdle(phase) && incoming === context.lastPromotedRevision) {
    return { action: "ignore", reason: `revision ${incoming} is already promoted` };
  }
  if (phase === "Failed" && incoming === context.lastFailedRevision) {
    return { action: "ignore", reason: `revision ${incoming} already failed; retry it to roll it out again` };
  }
  if (phase === "Initializing") {
    return { action: "queue", reason: "initialization is not finished; the revision starts after it" };
  }
  if (phase === "Promoting" || phase === "Finalising") {
    return {
      action: "queue",
      reason: `revision ${context.revision} is being promoted; the new revision starts after it`,
    };
  }
  if (context.suspended) {
    return { action: "queue", reason: "the canary is suspended; the revision starts when it is resumed" };
  }
  if (isBeforePromotion(phase)) {
    return { action: "restart", reason: `new revision ${incoming} replaces ${context.revision}` };
  }
  return { action: "start", reason: `new revision ${incoming}` };
}
