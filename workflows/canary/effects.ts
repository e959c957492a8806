/**
 * The effects queue: an event goes to the pure state machine (decisions/), and the effects it
 * returns are carried out in order. An effect whose activity still fails after its retries stays
 * first in the queue and is tried again at the next interval; nothing after it runs meanwhile.
 */
import { isCancellation } from "@temporalio/workflow";
import { activityOptions } from "../activity-port.ts";
import {
  type Effect,
  isBeforePromotion,
  isRollingOut,
  type RolloutEvent,
  transition,
} from "../decisions/index.ts";
import {
  answersOrErrors,
  call,
  cluster,
  describeError,
  effectSummary,
  isPermanent,
  report,
  routeSummary,
  short,
  webhooks,
} from "./calls.ts";
import { ROLLOUT_WORKFLOWS_PATCH } from "./patches.ts";
import { publish, recordEvent, reportLater, syncStatus, warn } from "./reporting.ts";
import { trackRollout } from "./rollouts.ts";
import type { Run } from "./run.ts";
import { sleepUntil } from "./waits.ts";

/** An effect failed after its activity's retries; it stays queued and the step that needed it ends. */
export class Stalled extends Error {}

/** Feeds one event to the state machine and carries out its effects, in order. */
export async function feed(run: Run, event: RolloutEvent): Promise<void> {
  if (!run.spec) return;
  const before = run.state;
  const result = transition(run.state, event, { spec: run.spec, nowMs: run.now() });
  run.state = result.state;
  const { state } = run;
  if (isRollingOut(before.phase) && (state.phase === "Succeeded" || state.phase === "Failed")) {
    run.rolloutEnded = true;
  }
  // A new rollout, a confirmed one, or a promotion starts its first step at once, not an interval later.
  const startsNow =
    state.revision !== before.revision ||
    (state.phase !== before.phase &&
      (state.phase === "Promoting" || (state.phase === "Progressing" && before.phase === "Waiting")));
  if (startsNow) run.nextStepAtMs = undefined;
  if (state.revision !== before.revision || (before.phase === "Failed" && isRollingOut(state.phase))) {
    run.steps = 0;
    run.readyDeadlineAtMs = undefined;
  }
  if (run.applies(ROLLOUT_WORKFLOWS_PATCH)) await trackRollout(run, before);
  if (!run.hardened()) {
    for (const effect of result.effects) await carryOut(run, effect);
  } else {
    run.unfinished.push(...result.effects);
    const done = await settle(run);
    if (before.phase !== run.state.phase || before.route !== run.state.route) publish(run);
    syncStatus(run);
    if (!done) throw new Stalled(run.stall?.reason);
    return;
  }
  if (before.phase !== run.state.phase || before.route !== run.state.route) publish(run);
  syncStatus(run);
}

/** Feeds an event; a failed effect stays queued for the main loop to retry. */
export async function feedQuietly(run: Run, event: RolloutEvent): Promise<void> {
  try {
    await feed(run, event);
  } catch (err) {
    if (!(err instanceof Stalled)) throw err;
  }
}

/**
 * Carries out the unfinished effects in order. One that fails after its activity's retries stays
 * first in the queue, with the reason noted once: nothing after it runs (the canary is never
 * scaled down before traffic has left it), and the main loop tries again at the next interval.
 */
export async function settle(run: Run): Promise<boolean> {
  while (run.unfinished.length > 0) {
    const effect = run.unfinished[0] as Effect;
    run.busyWith = effectSummary(effect);
    try {
      await carryOut(run, effect);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const reason = describeError(err);
      const permanent = isPermanent(err);
      if (run.stall?.reason !== reason)
        warn(run, `${effectSummary(effect)} failed: ${reason}; retrying at the next interval`);
      run.stall = { reason, permanent, retryAtMs: run.now() + (run.spec?.analysis.intervalMs ?? 10_000) };
      run.busyWith = "";
      return false;
    }
    run.unfinished.shift();
  }
  run.busyWith = "";
  run.stall = undefined;
  return true;
}

/**
 * The queue holds effects whose activity failed: try the first again at its time. One that
 * failed for good (RBAC, a resource type not installed) rolls the canary back while that is
 * possible; the rollback's own effects replace the queue, since they are the state to reach.
 * With a steady cadence, the retry timer running out (`woken`) is what makes the retry due.
 * Returns whether it waited for a timer that ran out.
 */
export async function retryUnfinished(run: Run, woken: boolean): Promise<boolean> {
  const first = run.unfinished[0] as Effect;
  if (run.stall && !(run.steadyCadence && woken) && run.now() < run.stall.retryAtMs) {
    return sleepUntil(run, run.stall.retryAtMs, `retry: ${effectSummary(first)}`);
  }
  if (run.stall?.permanent && isBeforePromotion(run.state.phase)) {
    const reason = `${effectSummary(first)} failed: ${run.stall.reason}`;
    run.unfinished = [];
    run.stall = undefined;
    await feedQuietly(run, { type: "failure", reason });
    return false;
  }
  await settle(run);
  return false;
}

async function carryOut(run: Run, effect: Effect): Promise<void> {
  const t = run.target();
  switch (effect.kind) {
    case "setRoutes":
      await call(run, "cluster", "setRoutes", routeSummary(effect.route), effect.route);
      return;
    case "scaleCanary":
      await call(
        run,
        "cluster",
        "scaleCanary",
        `scale canary ${effect.to === "up" ? "up" : "to zero"}`,
        effect.to === "up" ? "desired" : "zero",
      );
      return;
    case "promote":
      await call(run, "cluster", "promote", `promote revision ${run.state.revision} to primary`);
      return;
    case "postRolloutHooks":
      // Post-rollout hooks tell others; their failure must not hold the canary back.
      if (run.hardened()) await answersOrErrors(run, "post-rollout");
      else await webhooks(run, "post-rollout");
      return;
    case "alert": {
      const alert = { severity: effect.severity, phase: run.state.phase, message: effect.message };
      reportLater(run, "notify", "alert", () =>
        report.alert.executeWithOptions(
          { ...activityOptions.report, summary: short(`alert (${alert.severity}): ${alert.message}`) },
          [t, alert],
        ),
      );
      return;
    }
    case "event": {
      run.remember({ message: effect.message });
      const phase = run.state.phase;
      const event = { type: effect.severity, reason: phase, message: effect.message } as const;
      recordEvent(run, event);
      if (run.spec?.analysis.webhooks.some((w) => w.type === "event")) {
        reportLater(run, "notify", "event webhooks", () =>
          report.runWebhooks.executeWithOptions({ ...activityOptions.report, summary: "event webhooks" }, [
            t,
            "event",
            phase,
            event,
          ]),
        );
      }
      return;
    }
    case "finalize":
      await cluster.finalize.executeWithOptions(
        {
          ...activityOptions.cluster,
          summary: effect.revert ? "finalize: revert to the target" : "finalize",
        },
        [t, effect.revert],
      );
      return;
  }
}
