/**
 * The canary workflow taking over a Canary from Flagger, as initialize reports it: a primary that
 * is the target's copy is promoted at the target's revision; a revision Flagger rolled back (or
 * left half rolled out) stays failed until it is retried or the target changes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { retryUpdate } from "../../workflows/messages.ts";
import { canarySpec, WorkflowTestWorld } from "./support.ts";

const world = new WorkflowTestWorld();
before(async () => {
  await world.connect();
  await world.startWorker();
});
after(() => world.close());

const alice = { by: "alice@example.com", reason: "change ticket 42" };

describe("taking over from Flagger", () => {
  it("a revision Flagger left mid-rollout is failed, not rolled out; retry rolls it out", async () => {
    const canary = await world.startCanary("taken-over", canarySpec({ stepWeight: 50 }), "r2", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = "flagger-hash";
        model.rolledBack = { revision: "r2", reason: "taken over from Flagger mid-rollout" };
      },
    });
    const failed = await canary.settled("Failed");
    assert.equal(failed.lastPromotedRevision, "flagger-hash");
    assert.equal(failed.failedRevision, "r2");
    assert.match(failed.message, /taken over from Flagger mid-rollout; retry it, or change the target/);
    assert.equal(canary.model.canaryScaledUp, false, "the canary was never scaled up");
    assert.deepEqual(canary.model.promotions, []);

    // The controller resends the same revision on every resync: still nothing moves.
    await canary.revise("r2");
    assert.equal((await canary.status()).phase, "Failed");

    await canary.handle.executeUpdate(retryUpdate, { args: [alice] });
    const done = await canary.settled("Succeeded");
    assert.deepEqual(canary.model.promotions, ["r2"]);
    assert.equal(done.lastPromotedRevision, "r2");
  });

  it("a new target revision after the takeover rolls out normally", async () => {
    const canary = await world.startCanary("taken-over-new", canarySpec({ stepWeight: 50 }), "r2", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = "flagger-hash";
        model.rolledBack = { revision: "r2", reason: "Flagger had rolled this revision back" };
      },
    });
    await canary.settled("Failed");
    await canary.revise("r3");
    const done = await canary.settled("Succeeded");
    assert.deepEqual(canary.model.promotions, ["r3"]);
    assert.equal(done.lastPromotedRevision, "r3");
  });
});
