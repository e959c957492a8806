import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type Command,
  canTransition,
  type Effect,
  initialRolloutState,
  isFrozen,
  isRollingOut,
  PRIMARY_ONLY,
  type RolloutEvent,
  type RolloutSpec,
  type RolloutState,
  routeTo,
  transition,
} from "../../workflows/decisions/index.ts";
import { spec, webhook } from "./helpers/specs.ts";

/** Feeds events to the state machine, checking that every phase change is a legal one. */
class Rollout {
  state: RolloutState;
  nowMs = 0;
  readonly spec: RolloutSpec;

  constructor(rolloutSpec: RolloutSpec, state: RolloutState = initialRolloutState()) {
    this.spec = rolloutSpec;
    this.state = state;
  }

  send(event: RolloutEvent, spec: RolloutSpec = this.spec): string[] {
    const before = this.state.phase;
    const next = transition(this.state, event, { spec, nowMs: this.nowMs });
    assert.ok(canTransition(before, next.state.phase), `illegal transition ${before} -> ${next.state.phase}`);
    this.state = next.state;
    return next.effects.map(show);
  }

  /** Sends events and returns only the effects that change the world (no events or alerts). */
  actions(...events: RolloutEvent[]): string[] {
    return events
      .flatMap((event) => this.send(event))
      .filter((e) => !e.startsWith("event") && !e.startsWith("alert"));
  }
}

function show(effect: Effect): string {
  switch (effect.kind) {
    case "setRoutes":
      return `setRoutes ${effect.route.primaryWeight}/${effect.route.canaryWeight}${effect.route.mirror ? " mirror" : ""}`;
    case "scaleCanary":
      return `scaleCanary ${effect.to}`;
    case "promote":
      return "promote";
    case "postRolloutHooks":
      return `postRolloutHooks ${effect.phase}`;
    case "alert":
      return `alert ${effect.severity}: ${effect.message}`;
    case "event":
      return `event ${effect.severity}: ${effect.message}`;
    case "finalize":
      return `finalize${effect.revert ? " revert" : ""}`;
  }
}

const passed: RolloutEvent = {
  type: "checks",
  stage: "analysis",
  passed: true,
  message: "all 2 checks passed",
};
const preRolloutPassed: RolloutEvent = { type: "checks", stage: "pre-rollout", passed: true, message: "ok" };
const failed = (message = "metric request-success-rate: 90 is below the minimum 99"): RolloutEvent => ({
  type: "checks",
  stage: "analysis",
  passed: false,
  message,
});
const advance: RolloutEvent = { type: "advance" };
const command = (name: Command["name"], extra: Partial<Command> = {}): RolloutEvent => ({
  type: "command",
  command: { name, by: "alice", reason: "looks good", ...extra },
});

/** An initialized canary that has just started rolling out revision r2. */
function started(rolloutSpec: RolloutSpec): Rollout {
  const rollout = new Rollout(rolloutSpec);
  rollout.send({ type: "initialized", revision: "r1" });
  rollout.send({ type: "revision", revision: "r2" });
  return rollout;
}

const canary = spec({ stepWeight: 20, maxWeight: 60, threshold: 2 });

describe("a canary rollout", () => {
  test("initializes, steps up to maxWeight, promotes and finalises", () => {
    const rollout = new Rollout(canary);
    const init = rollout.send({ type: "initialized", revision: "r1" });
    assert.equal(rollout.state.phase, "Initialized");
    assert.equal(rollout.state.lastPromotedRevision, "r1");
    assert.deepEqual(init, [
      "event Normal: Initialized: podinfo-primary runs revision r1",
      "alert info: Deployment podinfo: canary initialized at revision r1.",
    ]);
    assert.deepEqual(
      rollout.send({ type: "initialized", revision: "r9" }),
      [],
      "initialization happens once",
    );

    assert.deepEqual(rollout.actions({ type: "revision", revision: "r2" }), ["scaleCanary up"]);
    assert.equal(rollout.state.phase, "Progressing");
    assert.deepEqual(rollout.send(preRolloutPassed), ["event Normal: Starting the analysis of revision r2"]);
    assert.deepEqual(rollout.send(advance), [
      "setRoutes 80/20",
      "event Normal: Advance: route 20% to canary",
    ]);
    assert.deepEqual(rollout.actions(passed, advance), ["setRoutes 60/40"]);
    assert.deepEqual(rollout.actions(passed, advance), ["setRoutes 40/60"]);
    assert.deepEqual(rollout.actions(passed, advance), ["promote"]);
    assert.equal(rollout.state.phase, "Promoting");
    assert.deepEqual(rollout.actions({ type: "promotionStep" }), ["setRoutes 100/0", "scaleCanary zero"]);
    assert.equal(rollout.state.phase, "Finalising");
    assert.deepEqual(rollout.send({ type: "finalised" }), [
      "event Normal: Promotion of revision r2 finished; the canary is scaled down",
      "alert info: Deployment podinfo: revision r2 promoted.",
      "postRolloutHooks Succeeded",
    ]);
    assert.equal(rollout.state.phase, "Succeeded");
    assert.equal(rollout.state.lastPromotedRevision, "r2");
    assert.deepEqual(rollout.state.route, PRIMARY_ONLY);
    assert.deepEqual(rollout.send({ type: "finalised" }), [], "finalising happens once");
  });

  test("rolls back when failed checks reach the threshold", () => {
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance);
    assert.deepEqual(rollout.send(failed()), [
      "event Warning: Check failed (1 of 2 allowed): metric request-success-rate: 90 is below the minimum 99",
    ]);
    assert.equal(rollout.state.failedChecks, 1);
    const effects = rollout.send(failed("webhook load: answered 500"));
    assert.deepEqual(effects, [
      "event Warning: Check failed (2 of 2 allowed): webhook load: answered 500",
      "setRoutes 100/0",
      "scaleCanary zero",
      "event Warning: Rolled back revision r2: 2 failed checks reached the threshold: webhook load: answered 500",
      "alert error: Deployment podinfo: rolled back revision r2: 2 failed checks reached the threshold: webhook load: answered 500",
      "postRolloutHooks Failed",
    ]);
    assert.equal(rollout.state.phase, "Failed");
    assert.equal(rollout.state.lastFailedRevision, "r2");
    assert.equal(rollout.state.failedChecks, 2);
    assert.equal(
      rollout.state.failureReason,
      "2 failed checks reached the threshold: webhook load: answered 500",
    );
    assert.deepEqual(
      rollout.send({ type: "revision", revision: "r2" }),
      [],
      "the failed revision does not restart",
    );
  });

  test("a failed pre-rollout check raises an alert", () => {
    const rollout = started(canary);
    const effects = rollout.send({
      type: "checks",
      stage: "pre-rollout",
      passed: false,
      message: "webhook db-migrate: answered 500",
    });
    assert.deepEqual(effects, [
      "event Normal: Starting the analysis of revision r2",
      "event Warning: Check failed (1 of 2 allowed): webhook db-migrate: answered 500",
      "alert warn: Deployment podinfo: pre-rollout checks of revision r2 failed: webhook db-migrate: answered 500",
    ]);
  });

  test("promotes by stepWeightPromotion", () => {
    const rollout = started(spec({ stepWeight: 50, stepWeightPromotion: 40 }));
    rollout.actions(preRolloutPassed, advance, passed, advance);
    assert.deepEqual(rollout.state.route, routeTo(100));
    assert.deepEqual(rollout.actions(passed, advance), ["promote"]);
    assert.deepEqual(rollout.send({ type: "promotionStep" }), [
      "setRoutes 40/60",
      "event Normal: Promotion: route 40% to primary",
    ]);
    assert.deepEqual(rollout.actions({ type: "promotionStep" }), ["setRoutes 80/20"]);
    assert.deepEqual(rollout.actions({ type: "promotionStep" }), ["setRoutes 100/0", "scaleCanary zero"]);
    assert.equal(rollout.state.phase, "Finalising");
  });

  test("mirrors for one step first", () => {
    const rollout = started(spec({ stepWeight: 50, mirror: true }));
    assert.deepEqual(rollout.send(advance), [
      "setRoutes 100/0 mirror",
      "event Normal: Advance: mirror traffic to canary",
    ]);
    assert.deepEqual(rollout.actions(passed, advance), ["setRoutes 50/50"]);
  });

  test("a spec edit applies at the next step", () => {
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance);
    const edited = spec({ stepWeight: 30, maxWeight: 90, threshold: 2 });
    assert.deepEqual(rollout.send(advance, edited), [
      "setRoutes 50/50",
      "event Normal: Advance: route 50% to canary",
    ]);
    rollout.send(passed, edited);
    assert.deepEqual(rollout.send(advance, edited)[0], "setRoutes 20/80");
    rollout.send(passed, edited);
    assert.deepEqual(rollout.send(advance, edited)[0], "setRoutes 10/90");
  });
});

describe("blue/green and A/B testing rollouts", () => {
  test("blue/green runs its iterations, switches traffic and promotes", () => {
    const rollout = started(spec({ iterations: 2, webhooks: [webhook("promote", "confirm-promotion")] }));
    assert.deepEqual(rollout.send(advance), ["event Normal: Advance: iteration 1/2"]);
    assert.deepEqual(rollout.actions(passed, advance), []);
    assert.equal(rollout.state.iterations, 2);
    rollout.send({
      type: "gate",
      gate: "confirm-promotion",
      outcome: "closed",
      detail: "webhook promote answered 403",
    });
    assert.equal(rollout.state.phase, "WaitingPromotion");
    rollout.send({
      type: "gate",
      gate: "confirm-promotion",
      outcome: "open",
      detail: "webhook promote answered 200",
    });
    assert.equal(rollout.state.phase, "Progressing");
    assert.deepEqual(rollout.send(advance), [
      "setRoutes 0/100",
      "event Normal: Advance: route all traffic to canary",
    ]);
    assert.deepEqual(rollout.actions(passed, advance), ["promote"]);
  });

  test("A/B testing routes matching requests to the canary for each iteration", () => {
    const rollout = started(spec({ iterations: 2, match: [{ headers: { user: { exact: "qa" } } }] }));
    assert.deepEqual(rollout.send(advance), [
      "setRoutes 0/100",
      "event Normal: Advance: iteration 1/2: route matching requests to canary",
    ]);
    assert.deepEqual(rollout.actions(passed, advance, passed, advance), ["promote"]);
  });
});

describe("gates", () => {
  const gated = spec({
    stepWeight: 50,
    threshold: 5,
    gateTimeout: "10m",
    webhooks: [
      webhook("approve", "confirm-rollout"),
      webhook("more", "confirm-traffic-increase", { muteAlert: true }),
      webhook("promote", "confirm-promotion"),
    ],
  });

  test("confirm-rollout holds the rollout in Waiting until it opens", () => {
    const rollout = new Rollout(gated);
    rollout.send({ type: "initialized", revision: "r1" });
    rollout.nowMs = 1000;
    assert.deepEqual(rollout.send({ type: "revision", revision: "r2" }), [
      "event Normal: New revision r2 detected; checking the confirm-rollout gate",
    ]);
    assert.equal(rollout.state.phase, "Waiting");
    assert.deepEqual(rollout.state.gate, { type: "confirm-rollout", sinceMs: 1000, checkedAtMs: undefined });
    rollout.nowMs = 2000;
    assert.deepEqual(
      rollout.send({
        type: "gate",
        gate: "confirm-rollout",
        outcome: "closed",
        detail: "webhook approve answered 403",
      }),
      [
        "event Warning: Holding at the confirm-rollout gate: webhook approve answered 403",
        "alert warn: Deployment podinfo: revision r2 waits for approval at the confirm-rollout gate (webhook approve answered 403).",
      ],
    );
    assert.deepEqual(
      rollout.state.gate,
      { type: "confirm-rollout", sinceMs: 1000, checkedAtMs: 2000 },
      "the wait started at the revision",
    );
    rollout.nowMs = 3000;
    assert.deepEqual(
      rollout.send({ type: "gate", gate: "confirm-rollout", outcome: "closed", detail: "again" }),
      [],
      "one alert per wait",
    );
    // Read through a fresh binding: the assertions above narrowed rollout.state.gate.
    const refreshed: RolloutState = rollout.state;
    assert.equal(refreshed.gate?.checkedAtMs, 3000);
    assert.deepEqual(rollout.send(command("approve")), [
      "event Normal: The confirm-rollout gate opened: approved by alice (looks good)",
      "scaleCanary up",
      "event Normal: Revision r2 confirmed; scaling up podinfo and starting the analysis",
      "alert info: Deployment podinfo: Revision r2 confirmed; analysis starts.",
    ]);
    assert.equal(rollout.state.phase, "Progressing");
    assert.equal(rollout.state.gate, undefined);
  });

  test("a new revision at the confirm-rollout gate restarts the wait", () => {
    const rollout = new Rollout(gated);
    rollout.send({ type: "initialized", revision: "r1" });
    rollout.send({ type: "revision", revision: "r2" });
    rollout.nowMs = 5000;
    assert.deepEqual(rollout.send({ type: "revision", revision: "r3" }), [
      "event Normal: New revision r3 replaces r2; checking the confirm-rollout gate again",
    ]);
    assert.deepEqual(rollout.state.gate, { type: "confirm-rollout", sinceMs: 5000, checkedAtMs: undefined });
    assert.equal(rollout.state.revision, "r3");
  });

  test("a gate that times out rolls back", () => {
    const rollout = new Rollout(gated);
    rollout.send({ type: "initialized", revision: "r1" });
    rollout.send({ type: "revision", revision: "r2" });
    const effects = rollout.send({
      type: "gate",
      gate: "confirm-rollout",
      outcome: "timeout",
      detail: "closed for 10m",
    });
    assert.ok(
      effects.includes(
        "alert error: Deployment podinfo: rolled back revision r2: the confirm-rollout gate did not open in time: closed for 10m",
      ),
    );
    assert.equal(rollout.state.phase, "Failed");
    assert.equal(rollout.state.gate, undefined);
  });

  test("a timeout for a gate that is not pending is stale", () => {
    const rollout = started(gated);
    rollout.send(command("approve"));
    assert.deepEqual(
      rollout.send({ type: "gate", gate: "confirm-promotion", outcome: "timeout", detail: "stale" }),
      [],
    );
    assert.equal(rollout.state.phase, "Progressing");
  });

  test("gate results for another phase are ignored", () => {
    const rollout = started(gated);
    assert.deepEqual(
      rollout.send({ type: "gate", gate: "confirm-promotion", outcome: "open", detail: "early" }),
      [],
    );
    assert.deepEqual(
      rollout.send({ type: "gate", gate: "confirm-traffic-increase", outcome: "closed", detail: "early" }),
      [],
    );
    assert.equal(rollout.state.phase, "Waiting");
  });

  test("confirm-traffic-increase holds the weight without changing the phase", () => {
    const rollout = started(gated);
    rollout.send(command("approve"));
    rollout.send(preRolloutPassed);
    assert.deepEqual(
      rollout.send({ type: "gate", gate: "confirm-traffic-increase", outcome: "closed", detail: "no" }),
      ["event Warning: Holding at the confirm-traffic-increase gate: no"],
      "muted webhooks raise no alert",
    );
    assert.equal(rollout.state.phase, "Progressing");
    assert.deepEqual(rollout.send(advance), [], "no step while a gate is pending");
    assert.deepEqual(
      rollout.actions(
        { type: "gate", gate: "confirm-traffic-increase", outcome: "open", detail: "yes" },
        advance,
      ),
      ["setRoutes 50/50"],
    );
  });

  test("confirm-promotion waits in WaitingPromotion, where analysis goes on", () => {
    const rollout = started(gated);
    rollout.send(command("approve"));
    rollout.actions(preRolloutPassed, advance, passed, advance);
    rollout.send({ type: "gate", gate: "confirm-promotion", outcome: "closed", detail: "no" });
    assert.equal(rollout.state.phase, "WaitingPromotion");
    rollout.send(failed());
    assert.equal(rollout.state.failedChecks, 1);
    assert.deepEqual(rollout.actions(command("approve", { gate: "confirm-promotion" }), advance), [
      "promote",
    ]);
    assert.equal(rollout.state.phase, "Promoting");
  });

  test("resume moves the gate's start by the pause", () => {
    const rollout = started(gated);
    rollout.nowMs = 10_000;
    rollout.send(command("pause"));
    rollout.nowMs = 70_000;
    assert.deepEqual(rollout.send(command("resume")), [
      "event Normal: Resumed by alice (looks good) after 1m",
    ]);
    assert.deepEqual(rollout.state.gate, {
      type: "confirm-rollout",
      sinceMs: 60_000,
      checkedAtMs: undefined,
    });
  });
});

describe("rollback causes", () => {
  test("progress deadline", () => {
    const rollout = started(canary);
    assert.deepEqual(
      rollout.send({ type: "canaryNotReady", deadlineExceeded: false, reason: "1 of 2 pods ready" }),
      ["event Warning: Waiting for the canary to become ready: 1 of 2 pods ready"],
    );
    assert.equal(rollout.state.phase, "Progressing");
    const effects = rollout.send({
      type: "canaryNotReady",
      deadlineExceeded: true,
      reason: "ImagePullBackOff",
    });
    assert.ok(
      effects.includes(
        "event Warning: Rolled back revision r2: the canary did not become ready within the progress deadline: ImagePullBackOff",
      ),
    );
    assert.equal(rollout.state.phase, "Failed");
  });

  test("rollback webhook", () => {
    const rollout = started(canary);
    rollout.send({ type: "rollbackWebhook", webhook: "big-red-button" });
    assert.equal(rollout.state.failureReason, "rollback webhook big-red-button asked for a rollback");
  });

  test("abort", () => {
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance);
    assert.deepEqual(rollout.actions(command("abort", { reason: "" })), [
      "setRoutes 100/0",
      "scaleCanary zero",
      "postRolloutHooks Failed",
    ]);
    assert.equal(rollout.state.failureReason, "aborted by alice");
  });

  test("a permanent failure rolls back before promotion and only warns after it", () => {
    const rollout = started(canary);
    rollout.send({ type: "failure", reason: "setRoutes: forbidden to patch httproutes in shop" });
    assert.equal(rollout.state.phase, "Failed");
    assert.equal(rollout.state.failureReason, "setRoutes: forbidden to patch httproutes in shop");

    const promoting = started(spec({ stepWeight: 50, maxWeight: 50 }));
    promoting.actions(preRolloutPassed, advance, passed, advance);
    assert.equal(promoting.state.phase, "Promoting");
    assert.deepEqual(promoting.send({ type: "failure", reason: "promote: target is gone" }), [
      "event Warning: promote: target is gone",
    ]);
    assert.equal(promoting.state.phase, "Promoting");
  });

  test("rollback webhook and readiness are ignored outside analysis", () => {
    const rollout = new Rollout(canary);
    rollout.send({ type: "initialized", revision: "r1" });
    assert.deepEqual(rollout.send({ type: "rollbackWebhook", webhook: "x" }), []);
    assert.deepEqual(rollout.send({ type: "canaryNotReady", deadlineExceeded: true, reason: "x" }), []);
    assert.deepEqual(rollout.send(failed()), []);
    assert.deepEqual(rollout.send(advance), []);
    assert.deepEqual(rollout.send({ type: "promotionStep" }), []);
    assert.deepEqual(rollout.send({ type: "skipAnalysis" }), []);
    assert.equal(rollout.state.phase, "Initialized");
  });
});

describe("revisions during a rollout", () => {
  test("a new revision mid-analysis resets weight and counters", () => {
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance, failed(), advance);
    assert.equal(rollout.state.route.canaryWeight, 40);
    assert.equal(rollout.state.failedChecks, 1);
    assert.deepEqual(rollout.send({ type: "revision", revision: "r3" }), [
      "setRoutes 100/0",
      "event Normal: New revision r3 replaces r2; restarting the analysis",
    ]);
    assert.deepEqual(
      [
        rollout.state.phase,
        rollout.state.revision,
        rollout.state.route,
        rollout.state.failedChecks,
        rollout.state.iterations,
      ],
      ["Progressing", "r3", PRIMARY_ONLY, 0, 0],
    );
    assert.deepEqual(rollout.send({ type: "revision", revision: "r3" }), [], "duplicates are ignored");
  });

  test("a revision during promotion is queued, once", () => {
    const rollout = started(spec({ stepWeight: 100 }));
    rollout.actions(preRolloutPassed, advance, passed, advance);
    assert.equal(rollout.state.phase, "Promoting");
    assert.deepEqual(rollout.send({ type: "revision", revision: "r3" }), [
      "event Normal: Revision r3 queued: revision r2 is being promoted; the new revision starts after it",
    ]);
    assert.deepEqual(rollout.send({ type: "revision", revision: "r3" }), []);
    assert.equal(rollout.state.queuedRevision, "r3");
    rollout.actions({ type: "promotionStep" }, { type: "finalised" });
    assert.equal(rollout.state.queuedRevision, "r3", "left for the workflow to start next");
    rollout.send({ type: "revision", revision: "r3" });
    assert.deepEqual([rollout.state.phase, rollout.state.queuedRevision], ["Progressing", undefined]);
  });
});

describe("skipping analysis", () => {
  test("skipAnalysis waits for the confirm-rollout gate", () => {
    const rollout = started(spec({ stepWeight: 10, webhooks: [webhook("approve", "confirm-rollout")] }));
    assert.deepEqual(rollout.send({ type: "skipAnalysis" }), []);
    assert.equal(rollout.state.phase, "Waiting");
  });

  test("skipAnalysis promotes", () => {
    const rollout = started(canary);
    assert.deepEqual(rollout.send({ type: "skipAnalysis" }), [
      "event Normal: Promoting revision r2 to the primary: the Canary sets skipAnalysis",
      "promote",
    ]);
    assert.equal(rollout.state.phase, "Promoting");
  });

  test("skip mid-analysis promotes", () => {
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance);
    assert.deepEqual(rollout.actions(command("skip"), { type: "promotionStep" }), [
      "promote",
      "setRoutes 100/0",
      "scaleCanary zero",
    ]);
  });
});

describe("pause, resume and suspend", () => {
  test("pause holds the weight across intervals", () => {
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance);
    rollout.nowMs = 1000;
    assert.deepEqual(rollout.send(command("pause")), ["event Normal: Paused by alice (looks good)"]);
    assert.equal(isFrozen(rollout.state, canary), true);
    for (const event of [
      passed,
      advance,
      failed(),
      { type: "canaryNotReady", deadlineExceeded: true, reason: "x" } as const,
    ]) {
      assert.deepEqual(rollout.send(event), []);
    }
    assert.deepEqual(rollout.state.route, routeTo(20));
    rollout.nowMs = 4000;
    rollout.send(command("resume"));
    assert.equal(isFrozen(rollout.state, canary), false);
    assert.deepEqual(rollout.actions(advance), ["setRoutes 60/40"]);
  });

  test("pause holds promotion too", () => {
    const rollout = started(spec({ stepWeight: 100, stepWeightPromotion: 50 }));
    rollout.actions(preRolloutPassed, advance, passed, advance, command("pause"));
    assert.deepEqual(rollout.send({ type: "promotionStep" }), []);
  });

  test("a suspended canary ignores interval results and queues revisions", () => {
    const suspended = { ...canary, suspend: true };
    const rollout = started(canary);
    rollout.actions(preRolloutPassed, advance);
    assert.deepEqual(rollout.send(advance, suspended), []);
    assert.deepEqual(
      rollout.send(
        { type: "gate", gate: "confirm-traffic-increase", outcome: "closed", detail: "x" },
        suspended,
      ),
      [],
    );
    assert.deepEqual(rollout.send({ type: "revision", revision: "r3" }, suspended), [
      "event Normal: Revision r3 queued: the canary is suspended; the revision starts when it is resumed",
    ]);
    assert.equal(rollout.state.revision, "r2");
    rollout.send({ type: "revision", revision: "r3" });
    assert.deepEqual(
      [rollout.state.revision, rollout.state.queuedRevision],
      ["r3", undefined],
      "resumed: r3 restarts",
    );
  });

  test("a gate result while paused: open counts, closed and timeout wait", () => {
    const rollout = started(spec({ stepWeight: 50, webhooks: [webhook("promote", "confirm-promotion")] }));
    rollout.actions(preRolloutPassed, advance, passed, advance);
    rollout.send({ type: "gate", gate: "confirm-promotion", outcome: "closed", detail: "no" });
    rollout.send(command("pause"));
    assert.deepEqual(
      rollout.send({ type: "gate", gate: "confirm-promotion", outcome: "timeout", detail: "x" }),
      [],
    );
    rollout.send({ type: "gate", gate: "confirm-promotion", outcome: "open", detail: "yes" });
    assert.equal(rollout.state.gate, undefined);
    assert.equal(rollout.state.phase, "Progressing");
  });
});

describe("retry", () => {
  test("re-runs the failed revision without a new revision", () => {
    const rollout = started(canary);
    rollout.send(command("abort"));
    assert.deepEqual(rollout.send(command("retry", { reason: "flaky test" })), [
      "scaleCanary up",
      "event Normal: Retrying revision r2 for alice (flaky test); scaling up podinfo and starting the analysis",
      "alert info: Deployment podinfo: Retrying revision r2 for alice (flaky test); analysis starts.",
    ]);
    assert.deepEqual(
      [rollout.state.phase, rollout.state.revision, rollout.state.failedChecks, rollout.state.failureReason],
      ["Progressing", "r2", 0, undefined],
    );
  });
});

describe("rejected commands", () => {
  test("change nothing and leave a warning naming who and why", () => {
    const rollout = new Rollout(canary);
    rollout.send({ type: "initialized", revision: "r1" });
    const before = rollout.state;
    assert.deepEqual(rollout.send(command("skip", { by: "bob" })), [
      "event Warning: Ignored skip from bob (looks good): nothing to skip: phase is Initialized",
    ]);
    assert.equal(rollout.state, before);
  });
});

describe("deletion", () => {
  test("with revertOnDeletion", () => {
    const rollout = started({ ...canary, revertOnDeletion: true });
    assert.deepEqual(rollout.send({ type: "delete" }), [
      "event Normal: Canary deleted: handing traffic and replicas back to the target",
      "finalize revert",
    ]);
    assert.equal(rollout.state.phase, "Terminating");
    assert.deepEqual(rollout.send({ type: "delete" }), []);
    rollout.send({ type: "terminated" });
    assert.equal(rollout.state.phase, "Terminated");
    assert.deepEqual(rollout.send({ type: "revision", revision: "r5" }), []);
  });

  test("without revertOnDeletion", () => {
    const rollout = started(canary);
    assert.deepEqual(rollout.actions({ type: "delete" }), ["finalize"]);
  });

  test("terminated only after terminating", () => {
    const rollout = started(canary);
    assert.deepEqual(rollout.send({ type: "terminated" }), []);
    assert.equal(rollout.state.phase, "Progressing");
  });
});

describe("rollout state machine (properties)", () => {
  const specs = [
    canary,
    spec({ stepWeights: [5, 30, 70], mirror: true, stepWeightPromotion: 25, threshold: 3 }),
    spec({ iterations: 3, mirror: true, webhooks: [webhook("p", "confirm-promotion")] }),
    spec({ iterations: 2, match: [{ headers: { a: { exact: "b" } } }] }),
    spec({
      stepWeight: 25,
      webhooks: [
        webhook("r", "confirm-rollout"),
        webhook("t", "confirm-traffic-increase"),
        webhook("p", "confirm-promotion"),
      ],
      gateTimeout: "1m",
    }),
  ];
  const gateTypes = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"] as const;
  const eventArb: fc.Arbitrary<RolloutEvent> = fc.oneof(
    fc.constant(passed),
    fc.constant(preRolloutPassed),
    fc.constant(failed()),
    { arbitrary: fc.constant(advance), weight: 4 },
    fc.constant<RolloutEvent>({ type: "promotionStep" }),
    fc.constant<RolloutEvent>({ type: "finalised" }),
    fc.constant<RolloutEvent>({ type: "skipAnalysis" }),
    fc.constant<RolloutEvent>({ type: "rollbackWebhook", webhook: "w" }),
    fc
      .boolean()
      .map((deadlineExceeded): RolloutEvent => ({ type: "canaryNotReady", deadlineExceeded, reason: "r" })),
    fc.constantFrom("r1", "r2", "r3", "r4").map((revision): RolloutEvent => ({ type: "revision", revision })),
    fc
      .record({
        gate: fc.constantFrom(...gateTypes),
        outcome: fc.constantFrom("open", "closed", "timeout") as fc.Arbitrary<"open" | "closed" | "timeout">,
      })
      .map(({ gate, outcome }): RolloutEvent => ({ type: "gate", gate, outcome, detail: "d" })),
    fc
      .constantFrom("approve", "skip", "abort", "pause", "resume", "retry" as const)
      .map((name): RolloutEvent => ({ type: "command", command: { name, by: "p", reason: "" } })),
    fc.constant<RolloutEvent>({ type: "delete" }),
    fc.constant<RolloutEvent>({ type: "terminated" }),
  );

  test("every run keeps the invariants", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...specs),
        fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: 120_000 })), { maxLength: 80, size: "max" }),
        (rolloutSpec, steps) => {
          let state = transition(
            initialRolloutState(),
            { type: "initialized", revision: "r1" },
            { spec: rolloutSpec, nowMs: 0 },
          ).state;
          let nowMs = 0;
          for (const [event, elapsed] of steps) {
            nowMs += elapsed;
            const before = state;
            const { state: after, effects } = transition(before, event, { spec: rolloutSpec, nowMs });
            state = after;
            const kinds = effects.map((e) => e.kind);

            assert.ok(
              canTransition(before.phase, after.phase),
              `${before.phase} -> ${after.phase} on ${event.type}`,
            );
            assert.equal(after.route.primaryWeight + after.route.canaryWeight, 100);
            assert.ok(after.route.canaryWeight >= 0 && after.route.canaryWeight <= 100);
            if (rolloutSpec.strategy.kind === "canary")
              assert.ok(after.route.canaryWeight <= rolloutSpec.analysis.maxWeight);
            assert.ok(after.iterations <= rolloutSpec.analysis.iterations + 1);
            if (isRollingOut(after.phase)) assert.ok(after.failedChecks < rolloutSpec.analysis.threshold);
            if (after.gate !== undefined)
              assert.ok(["Waiting", "Progressing", "WaitingPromotion"].includes(after.phase));
            if (after.phase === "Waiting") assert.equal(after.gate?.type, "confirm-rollout");
            if (after.phase === "WaitingPromotion") assert.equal(after.gate?.type, "confirm-promotion");
            if (["Initialized", "Succeeded", "Failed"].includes(after.phase))
              assert.deepEqual(after.route, PRIMARY_ONLY);

            if (before.phase !== "Failed" && after.phase === "Failed") {
              // Every rollback restores the primary, scales the canary down, alerts and runs post-rollout hooks.
              assert.deepEqual(
                kinds.filter((k) => k !== "event"),
                ["setRoutes", "scaleCanary", "alert", "postRolloutHooks"],
              );
              assert.ok(effects.some((e) => e.kind === "alert" && e.severity === "error"));
              assert.equal(after.lastFailedRevision, before.revision);
            }
            if (before.phase !== "Succeeded" && after.phase === "Succeeded") {
              assert.equal(after.lastPromotedRevision, before.revision);
              assert.ok(kinds.includes("postRolloutHooks"));
            }
            if (after.phase === "Promoting" && before.phase !== "Promoting")
              assert.ok(kinds.includes("promote"));
            if (after.pausedAtMs !== undefined || before.pausedAtMs !== undefined) {
              if (event.type === "advance" || event.type === "promotionStep") assert.equal(after, before);
            }
            if (event.type === "command" && after === before) {
              assert.deepEqual(kinds, ["event"], "a rejected command only leaves a warning");
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
