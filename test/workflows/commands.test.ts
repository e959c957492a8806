/**
 * Gates and operator commands: each gate waits, opens on approve and on a webhook answer, and
 * rolls back on its timeout; skip, abort, pause/resume, retry; suspend; deletion; rejected
 * updates say why; every command records who sent it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WorkflowUpdateFailedError } from "@temporalio/client";
import {
  abortUpdate,
  approveSignal,
  approveUpdate,
  deleteSignal,
  pauseUpdate,
  resumeUpdate,
  retryUpdate,
  skipSignal,
  skipUpdate,
} from "../../workflows/messages.ts";
import { webhook } from "../unit/helpers/specs.ts";
import { canarySpec, WorkflowTestWorld } from "./support.ts";

const world = new WorkflowTestWorld();
before(async () => {
  await world.connect();
  await world.startWorker();
});
after(() => world.close());

const alice = { by: "alice@example.com", reason: "change ticket 42" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rejection(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => assert.fail("the update was accepted"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update rejection, got ${String(err)}`);
  return err.cause?.message ?? "";
}

describe("gates", () => {
  const gates = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"] as const;

  for (const gate of gates) {
    it(`${gate} holds the rollout, alerts once, and opens when its webhook answers 2xx`, async () => {
      const canary = await world.startCanary(
        `hook-${gate}`,
        canarySpec({ stepWeight: 50, maxWeight: 50, webhooks: [webhook("gate", gate)] }),
      );
      canary.model.webhookAnswers.set(gate, "fail");
      await canary.revise("r2");
      const held = await canary.until(`held at ${gate}`, (s) => s.pendingGate?.gate === gate);
      assert.equal(
        held.phase,
        {
          "confirm-rollout": "Waiting",
          "confirm-traffic-increase": "Progressing",
          "confirm-promotion": "WaitingPromotion",
        }[gate],
      );
      assert.deepEqual(canary.model.promotions, []);
      await canary.alerted(`${gate} waiting`, (a) => a.severity === "warn" && a.message.includes(gate));
      canary.model.webhookAnswers.set(gate, "pass");
      await canary.settled("Succeeded");
      assert.equal(canary.model.alerts.filter((a) => a.severity === "warn").length, 1, "one alert per wait");
    });

    it(`${gate} rolls the rollout back when it stays closed past its gateTimeout`, async () => {
      const canary = await world.startCanary(
        `timeout-${gate}`,
        canarySpec({
          stepWeight: 50,
          maxWeight: 50,
          interval: "3s",
          webhooks: [webhook("gate", gate, { gateTimeout: "1500ms" })],
        }),
      );
      canary.model.webhookAnswers.set(gate, "fail");
      await canary.revise("r2");
      const failed = await canary.settled("Failed", 30_000);
      assert.match(failed.message, new RegExp(`the ${gate} gate did not open in time`));
      assert.deepEqual(canary.model.promotions, []);
      assert.equal(canary.model.routes.canaryWeight, 0);
    });
  }

  it("confirm-rollout opens at once on approve, recorded with who and why", async () => {
    const canary = await world.startCanary(
      "gate-rollout-approve",
      canarySpec({ stepWeight: 50, interval: "30s", webhooks: [webhook("go", "confirm-rollout")] }),
    );
    canary.model.webhookAnswers.set("confirm-rollout", "fail");
    await canary.revise("r2");
    await canary.until("Waiting", (s) => s.pendingGate?.gate === "confirm-rollout");
    const result = await canary.handle.executeUpdate(approveUpdate, {
      args: [{ ...alice, gate: "confirm-rollout" }],
    });
    assert.equal(result.accepted, true);
    // Well before the 30s interval: the approve, not a timer, started the step.
    const progressing = await canary.until("first step", (s) => s.routes.canaryWeight === 50, 15_000);
    const entry = progressing.timeline.find((e) => e.by === alice.by);
    assert.equal(entry?.reason, alice.reason);
    assert.match(entry?.message ?? "", /approve accepted/);
  });

  it("confirm-traffic-increase holds the weight until approved, then steps at once", async () => {
    const canary = await world.startCanary(
      "gate-traffic",
      canarySpec({ stepWeight: 25, maxWeight: 50, webhooks: [webhook("more", "confirm-traffic-increase")] }),
    );
    canary.model.webhookAnswers.set("confirm-traffic-increase", "fail");
    await canary.revise("r2");
    const held = await canary.until("held", (s) => s.pendingGate?.gate === "confirm-traffic-increase");
    assert.equal(held.routes.canaryWeight, 0);
    await sleep(1000);
    assert.equal((await canary.status()).routes.canaryWeight, 0, "no step while the gate is closed");
    // The update completes only once the step it allowed has routed traffic.
    await canary.handle.executeUpdate(approveUpdate, { args: [alice] });
    assert.equal(canary.model.routes.canaryWeight, 25);
  });

  it("confirm-promotion waits in WaitingPromotion and opens on a signal approve", async () => {
    const canary = await world.startCanary(
      "gate-promotion",
      canarySpec({ stepWeight: 50, webhooks: [webhook("ship", "confirm-promotion")] }),
    );
    canary.model.webhookAnswers.set("confirm-promotion", "fail");
    await canary.revise("r2");
    await canary.until("WaitingPromotion", (s) => s.phase === "WaitingPromotion");
    assert.deepEqual(canary.model.promotions, []);
    await canary.handle.signal(approveSignal, alice);
    await canary.settled("Succeeded");
    assert.deepEqual(canary.model.promotions, ["r2"]);
  });
});

describe("operator commands", () => {
  it("skip mid-analysis promotes at once", async () => {
    const canary = await world.startCanary("cmd-skip", canarySpec({ stepWeight: 10, interval: "30s" }));
    await canary.revise("r2");
    await canary.until("first step", (s) => s.routes.canaryWeight === 10);
    await canary.handle.executeUpdate(skipUpdate, { args: [alice] });
    // Well within the 30s interval: the skip, not a timer, promoted.
    await canary.settled("Succeeded", 20_000);
    assert.deepEqual(canary.model.promotions, ["r2"]);
  });

  it("skip as a signal also promotes", async () => {
    const canary = await world.startCanary(
      "cmd-skip-signal",
      canarySpec({ stepWeight: 10, interval: "30s" }),
    );
    await canary.revise("r2");
    await canary.until("first step", (s) => s.routes.canaryWeight === 10);
    await canary.handle.signal(skipSignal, alice);
    await canary.settled("Succeeded", 20_000);
  });

  it("abort mid-analysis rolls back before any further analysis timer fires", async () => {
    const canary = await world.startCanary("cmd-abort", canarySpec({ stepWeight: 10, interval: "1h" }));
    await canary.revise("r2");
    await canary.until("first step", (s) => s.routes.canaryWeight === 10);
    const metricsBefore = canary.model.calls.filter((c) => c === "runMetrics").length;
    await canary.handle.executeUpdate(abortUpdate, { args: [alice] });
    const failed = await canary.settled("Failed", 30_000);
    assert.match(failed.message, /aborted by alice@example.com \(change ticket 42\)/);
    assert.equal(canary.model.routes.canaryWeight, 0);
    assert.equal(canary.model.calls.filter((c) => c === "runMetrics").length, metricsBefore);
  });

  it("pause holds the weight across several intervals; resume continues", async () => {
    const canary = await world.startCanary("cmd-pause", canarySpec({ stepWeight: 20 }));
    await canary.revise("r2");
    await canary.until("20%", (s) => s.routes.canaryWeight === 20);
    await canary.handle.executeUpdate(pauseUpdate, { args: [alice] });
    const weight = canary.model.routes.canaryWeight;
    await sleep(1500);
    const paused = await canary.status();
    assert.equal(paused.paused, true);
    assert.equal(canary.model.routes.canaryWeight, weight, "no step while paused");
    await canary.handle.executeUpdate(resumeUpdate, { args: [alice] });
    await canary.settled("Succeeded");
  });

  it("retry re-runs a failed revision without a new revision", async () => {
    const canary = await world.startCanary("cmd-retry", canarySpec({ stepWeight: 50, threshold: 1 }));
    canary.model.successRate = 50;
    await canary.revise("r2");
    await canary.settled("Failed");
    canary.model.successRate = 99.9;
    await canary.handle.executeUpdate(retryUpdate, { args: [alice] });
    const done = await canary.settled("Succeeded");
    assert.equal(done.lastPromotedRevision, "r2");
  });

  it("rejects updates that do not apply, saying why", async () => {
    const canary = await world.startCanary("cmd-reject", canarySpec({ stepWeight: 50 }));
    assert.equal(
      await rejection(canary.handle.executeUpdate(skipUpdate, { args: [alice] })),
      "nothing to skip: phase is Initialized",
    );
    assert.equal(
      await rejection(canary.handle.executeUpdate(approveUpdate, { args: [alice] })),
      "nothing to approve: no gate is pending (phase is Initialized)",
    );
    assert.match(
      await rejection(canary.handle.executeUpdate(retryUpdate, { args: [alice] })),
      /nothing to retry/,
    );
    assert.match(await rejection(canary.handle.executeUpdate(resumeUpdate, { args: [alice] })), /not paused/);
    assert.match(
      await rejection(canary.handle.executeUpdate(abortUpdate, { args: [{ by: "" }] })),
      /needs "by"/,
    );
  });
});

describe("suspend and deletion", () => {
  it("a suspended canary starts nothing until the spec resumes it", async () => {
    const suspended = canarySpec({ stepWeight: 50 }, { suspend: true });
    const canary = await world.startCanary("suspend", suspended);
    await canary.revise("r2");
    await sleep(1000);
    assert.deepEqual(canary.model.weights, []);
    await canary.revise("r2", canarySpec({ stepWeight: 50 }));
    await canary.settled("Succeeded");
  });

  it("deletion without revertOnDeletion finalizes and ends the workflow", async () => {
    const canary = await world.startCanary("delete-keep", canarySpec({ stepWeight: 50 }));
    await canary.handle.signal(deleteSignal, {});
    assert.deepEqual(await canary.handle.result(), { phase: "Terminated" });
    assert.deepEqual(canary.model.finalized, { revert: false });
  });

  it("deletion with revertOnDeletion mid-rollout gives the target back its traffic", async () => {
    const canary = await world.startCanary(
      "delete-revert",
      canarySpec({ stepWeight: 10, interval: "30s" }, { revertOnDeletion: true }),
    );
    await canary.revise("r2");
    await canary.until("first step", (s) => s.routes.canaryWeight === 10);
    await canary.handle.signal(deleteSignal, {});
    await canary.handle.result();
    assert.deepEqual(canary.model.finalized, { revert: true });
    assert.equal(canary.model.lastStatus?.phase, "Terminated");
  });
});
