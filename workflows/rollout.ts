/**
 * One rollout of a canary as a workflow of its own, started by the canary workflow when the
 * rollout begins and told how it ended. Its close status is the rollout's outcome, so the Temporal
 * UI shows a rolled-back rollout as Failed, with the reason as its failure message, and the
 * Failures filter finds it; the long-lived canary workflow keeps the stable ID and the commands.
 * It does no work itself and its history is a handful of events.
 */
import { ApplicationFailure, condition, defineSignal, setHandler } from "@temporalio/workflow";
import type { CanaryRef } from "./activity-port.ts";

export type RolloutOutcome = "Succeeded" | "Failed" | "Superseded" | "Deleted";

export interface RolloutInput {
  readonly canary: CanaryRef;
  readonly revision: string;
  /** The revision the primary ran when the rollout began. */
  readonly from: string | undefined;
}

export interface RolloutEnd {
  readonly outcome: RolloutOutcome;
  /** Why it ended so, in words: the rollback's reason, or what superseded it. */
  readonly message: string;
}

export interface RolloutResult extends RolloutEnd {
  readonly revision: string;
}

/** Sent only by the canary workflow: named so no operator takes it for a command. */
export const rolloutEndSignal = defineSignal<[RolloutEnd]>("internal.rollout-ended");

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  let end: RolloutEnd | undefined;
  setHandler(
    rolloutEndSignal,
    (message) => {
      end ??= message;
    },
    { description: "internal: the canary workflow reports how this rollout ended" },
  );
  await condition(() => end !== undefined);
  const { outcome, message } = end as RolloutEnd;
  if (outcome === "Failed") throw ApplicationFailure.nonRetryable(message, "RolledBack");
  return { revision: input.revision, outcome, message };
}
