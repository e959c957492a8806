/**
 * Each strategy succeeds and rolls back, on the real Temporal dev server with the in-memory
 * cluster model; the failed-checks threshold; the progress deadline; a new revision mid-analysis.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { canarySpec, WorkflowTestWorld } from "./support.ts";

const world = new WorkflowTestWorld();
before(async () => {
  await world.connect();
  await world.startWorker();
});
after(() => world.close());

describe("canary strategy", () => {
  it("shifts weight by stepWeight up to maxWeight, promotes, and scales the canary down", async () => {
    const canary = await world.startCanary("canary-ok", canarySpec({ stepWeight: 20, maxWeight: 60 }));
    await canary.revise("r2");
    const done = await canary.settled("Succeeded");
    assert.equal(done.lastPromotedRevision, "r2");
    assert.deepEqual(canary.model.weights, [20, 40, 60, 0]);
    assert.deepEqual(canary.model.promotions, ["r2"]);
    assert.equal(canary.model.primaryRevision, "r2");
    assert.equal(canary.model.canaryScaledUp, false);
    assert.deepEqual(
      [...new Set(canary.model.phases)],
      ["Initializing", "Initialized", "Progressing", "Promoting", "Finalising", "Succeeded"],
    );
    await canary.alerted("r2 promoted", (a) => a.severity === "info" && a.message.includes("r2 promoted"));
  });

  it("follows stepWeights and promotes back by stepWeightPromotion", async () => {
    const canary = await world.startCanary(
      "canary-steps",
      canarySpec({ stepWeights: [5, 25, 50], stepWeightPromotion: 30 }),
    );
    await canary.revise("r2");
    await canary.settled("Succeeded");
    assert.deepEqual(canary.model.weights, [5, 25, 50, 20, 0]);
  });

  it("rolls back after threshold failed checks, explaining the metric with its value", async () => {
    const canary = await world.startCanary(
      "canary-bad",
      canarySpec({ stepWeight: 20, maxWeight: 60, threshold: 2 }),
    );
    canary.model.successRate = 93.1;
    await canary.revise("r2");
    const failed = await canary.settled("Failed");
    assert.equal(failed.failedChecks, 2);
    assert.equal(failed.failedRevision, "r2");
    assert.match(failed.message, /request-success-rate 93\.10 < 99/);
    assert.deepEqual(canary.model.weights, [20, 0]);
    assert.equal(canary.model.canaryScaledUp, false);
    assert.equal(canary.model.primaryRevision, "r1", "the primary keeps the old revision");
    assert.match(canary.model.lastStatus?.message ?? "", /rolled back.*93\.10 < 99/);
    await canary.alerted("rollback", (a) => a.severity === "error");
    assert.ok(canary.model.calls.includes("runWebhooks") || canary.spec.analysis.webhooks.length === 0);
  });

  it("tolerates failed checks below the threshold", async () => {
    const canary = await world.startCanary("canary-flaky", canarySpec({ stepWeight: 50, threshold: 3 }));
    canary.model.failMetricsTimes = 2;
    await canary.revise("r2");
    const done = await canary.settled("Succeeded");
    assert.equal(done.lastPromotedRevision, "r2");
  });

  it("rolls back when the canary misses its progress deadline", async () => {
    const canary = await world.startCanary("canary-stuck", canarySpec({ stepWeight: 20 }));
    canary.model.canaryMissesDeadline = { afterMs: 300, reason: "pod canary-x: ImagePullBackOff" };
    await canary.revise("r2");
    const failed = await canary.settled("Failed");
    assert.match(failed.message, /progress deadline.*ImagePullBackOff/);
    assert.deepEqual(canary.model.weights, [0]);
  });

  it("a new revision mid-analysis resets weight and counters", async () => {
    const canary = await world.startCanary("canary-restart", canarySpec({ stepWeight: 10, threshold: 5 }));
    canary.model.failMetricsTimes = 1;
    await canary.revise("r2");
    await canary.until("weight 20", (s) => s.routes.canaryWeight >= 20 && s.failedChecks === 1);
    await canary.revise("r3");
    const restarted = await canary.until("restart", (s) => s.revision === "r3");
    assert.equal(restarted.routes.canaryWeight, 0);
    assert.equal(restarted.failedChecks, 0);
    const done = await canary.settled("Succeeded", 60_000);
    assert.equal(done.lastPromotedRevision, "r3");
    assert.deepEqual(canary.model.promotions, ["r3"]);
  });

  it("mirrors traffic to the canary for the first step when mirror is set", async () => {
    const canary = await world.startCanary("canary-mirror", canarySpec({ stepWeight: 50, mirror: true }));
    await canary.revise("r2");
    await canary.settled("Succeeded");
    assert.deepEqual(
      canary.model.routeLog.map((r) => `${r.routes.canaryWeight}${r.routes.mirror ? "+mirror" : ""}`),
      ["0+mirror", "50", "100", "0"],
    );
  });

  it("does not roll out a revision equal to the last promoted one", async () => {
    const canary = await world.startCanary("canary-same", canarySpec({ stepWeight: 50 }));
    await canary.revise("r1");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const status = await canary.status();
    assert.equal(status.phase, "Initialized");
    assert.deepEqual(canary.model.weights, []);
  });
});

describe("blue/green strategy", () => {
  it("runs iterations with users on the primary, switches, then promotes", async () => {
    const canary = await world.startCanary("bg-ok", canarySpec({ iterations: 3 }));
    await canary.revise("r2");
    const done = await canary.settled("Succeeded");
    assert.equal(done.lastPromotedRevision, "r2");
    assert.deepEqual(canary.model.weights, [100, 0]);
  });

  it("mirrors traffic to the canary during the iterations when mirror is set", async () => {
    const canary = await world.startCanary("bg-mirror", canarySpec({ iterations: 2, mirror: true }));
    await canary.revise("r2");
    await canary.settled("Succeeded");
    assert.ok(canary.model.routeLog.some((r) => r.routes.mirror && r.routes.canaryWeight === 0));
  });

  it("rolls back when the analysis fails", async () => {
    const canary = await world.startCanary("bg-bad", canarySpec({ iterations: 3 }));
    canary.model.successRate = 50;
    await canary.revise("r2");
    await canary.settled("Failed");
    assert.deepEqual(canary.model.promotions, []);
  });
});

describe("A/B testing strategy", () => {
  const match = [{ headers: { "x-canary": { exact: "insider" } } }];

  it("routes matching requests to the canary for the iterations, then promotes", async () => {
    const canary = await world.startCanary("ab-ok", canarySpec({ iterations: 2, match }));
    await canary.revise("r2");
    await canary.settled("Succeeded");
    assert.equal(canary.model.routeLog[0]?.routes.canaryWeight, 100);
    assert.deepEqual(canary.model.promotions, ["r2"]);
  });

  it("rolls back when the analysis fails", async () => {
    const canary = await world.startCanary("ab-bad", canarySpec({ iterations: 2, match }));
    canary.model.successRate = 50;
    await canary.revise("r2");
    await canary.settled("Failed");
    assert.deepEqual(canary.model.weights, [100, 0]);
  });
});
