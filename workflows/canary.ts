/**
 * The canary workflow: one per Canary object, for its whole life. It observes the world through
 * activities, feeds what it saw to the pure state machine in decisions/, and carries out the
 * effects the state machine returns. Every wait is a condition that any message ends at once;
 * idle canaries wait with no timer at all. Each finished rollout continues as new, so one run of
 * the workflow ID is one rollout.
 *
 * This module is the main loop and the dispatch of a phase's step; canary/ holds the parts: the
 * state of a run (run.ts), messages in (intake.ts), reports out (reporting.ts), the effects queue
 * (effects.ts, rollouts.ts), the steps (initialize.ts, analysis.ts, promotion.ts), activity calls
 * (calls.ts), waits (waits.ts) and the patches that keep recorded runs replaying (patches.ts).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from "@temporalio/workflow";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import { formatDuration } from "../src/api/duration.ts";
import { searchAttributes } from "../src/temporal/search-attributes.ts";
import type { CanaryRef } from "./activity-port.ts";
import { analysisStep, confirmRolloutStep, gateDeadline } from "./canary/analysis.ts";
import { describeError } from "./canary/calls.ts";
import { feed, feedQuietly, retryUnfinished, Stalled } from "./canary/effects.ts";
import { initialize } from "./canary/initialize.ts";
import { drainInbox, listen, UPDATE_WAIT } from "./canary/intake.ts";
import { finalisingStep, promotionStep } from "./canary/promotion.ts";
import { details, publish, reportsDone, syncStatus } from "./canary/reporting.ts";
import { type CarriedState, Run } from "./canary/run.ts";
import { sleepUntil, waitForMail } from "./canary/waits.ts";
import { isFrozen, isIdle } from "./decisions/index.ts";

export type { CarriedState } from "./canary/run.ts";

export interface CanaryWorkflowInput {
  readonly ref: CanaryRef;
  /** Set by continue-as-new; absent on the first run. */
  readonly carried?: CarriedState;
}

export type CanaryWorkflowResult = { readonly phase: "Terminated" };

export async function canaryWorkflow(input: CanaryWorkflowInput): Promise<CanaryWorkflowResult> {
  const { ref } = input;
  const run = new Run(ref, input.carried);
  listen(run);

  upsertSearchAttributes([
    { key: searchAttributes.CanaryName, value: ref.name },
    { key: searchAttributes.CanaryNamespace, value: ref.namespace },
  ]);
  // Every run shows what the canary is doing from its first task (details are no command).
  setCurrentDetails(details(run));
  // A revision that was queued while the last rollout finished starts in this run.
  if (run.initialized && run.state.queuedRevision && isIdle(run.state.phase)) {
    run.inbox.unshift({
      kind: "revision",
      message: {
        revision: run.state.queuedRevision,
        spec: run.spec as ResolvedCanarySpec,
        generation: run.generation,
      },
    });
  }

  // Steady cadence: after a step the next one waits for a timer; a timer that ran out makes it due.
  let stepDone = false;
  let timerRanOut = false;
  for (;;) {
    const [afterStep, woken] = [stepDone, timerRanOut];
    [stepDone, timerRanOut] = [false, false];
    if ((await drainInbox(run)) === "terminated") {
      publish(run);
      await reportsDone(run);
      // A Canary recreated under the same name sent its revision behind the delete: it starts afresh.
      if (run.hardened() && run.inbox.some((item) => item.kind === "revision")) {
        await condition(() => allHandlersFinished(), UPDATE_WAIT);
        const next = run.inbox.filter((item) => item.kind === "revision");
        return continueAsNew<typeof canaryWorkflow>({ ref, carried: run.freshStart(next) });
      }
      return { phase: "Terminated" };
    }
    syncStatus(run);

    if (run.rolloutEnded || workflowInfo().continueAsNewSuggested) {
      await reportsDone(run);
      // An update handler waits for this loop to apply its command: apply it before moving on.
      await condition(() => allHandlersFinished() || run.hasMail());
      if (!run.hasMail()) {
        return continueAsNew<typeof canaryWorkflow>({ ref, carried: run.carry() });
      }
    }

    const spec = run.spec;
    if (!spec) {
      await waitForMail(run);
      continue;
    }
    if (!run.initialized) {
      await initialize(run);
      continue;
    }
    if (run.unfinished.length > 0) {
      timerRanOut = await retryUnfinished(run, woken);
      continue;
    }
    if (isIdle(run.state.phase) || isFrozen(run.state, spec)) {
      publish(run);
      await waitForMail(run);
      continue;
    }

    const interval = spec.analysis.intervalMs;
    const scheduled = run.nextStepAtMs ?? run.now();
    // A gate with a timeout is checked again at its deadline, even between intervals.
    const due = Math.min(scheduled, gateDeadline(run) ?? Number.POSITIVE_INFINITY);
    const waitFirst = run.steadyCadence ? afterStep || (!woken && run.now() < due) : run.now() < due;
    if (waitFirst) {
      const until = run.steadyCadence ? Math.max(due, run.now() + 1) : due;
      timerRanOut = await sleepUntil(run, until, `analysis interval ${formatDuration(interval)}`);
      continue;
    }
    if (scheduled <= run.now()) {
      // Keep a steady cadence; after falling behind (a long step), count the interval from now.
      run.nextStepAtMs = scheduled + interval > run.now() ? scheduled + interval : run.now() + interval;
    }

    run.stepDueAtMs = scheduled;
    const planned = run.nextStepAtMs;
    try {
      await step(run);
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (err instanceof Stalled) continue;
      // Retries are exhausted or the error is permanent: explain it, and roll back while possible.
      if (run.hardened()) await feedQuietly(run, { type: "failure", reason: describeError(err) });
      else await feed(run, { type: "failure", reason: describeError(err) });
    }
    // A step that outlasted its interval (calls retried through an outage) is followed by a whole
    // interval, not by the next step at once: every weight gets its time under analysis.
    if (run.lean && planned !== undefined && run.nextStepAtMs === planned && planned < run.now())
      run.nextStepAtMs = run.now() + interval;
    stepDone = true;
  }
}

/**
 * The step of the phase the canary is in. A plain function handing on the phase's own promise,
 * so a step takes as many turns as it always did (see analysisStep).
 */
function step(run: Run): Promise<void> {
  switch (run.state.phase) {
    case "Waiting":
      return confirmRolloutStep(run);
    case "Progressing":
    case "WaitingPromotion":
      return analysisStep(run);
    case "Promoting":
      return promotionStep(run);
    case "Finalising":
      return finalisingStep(run);
    default:
      return Promise.resolve();
  }
}
