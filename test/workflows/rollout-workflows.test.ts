/**
 * Each rollout is a workflow of its own whose close status is its outcome: the Temporal UI shows
 * a rolled-back rollout as Failed with its reason, a promoted one as Completed, and one replaced by
 * a newer revision as Completed "Superseded".
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WorkflowFailedError } from "@temporalio/client";
import { waitFor } from "../harness/process.ts";
import { type Canary, canarySpec, WorkflowTestWorld } from "./support.ts";

const world = new WorkflowTestWorld();
before(async () => {
  await world.connect();
  await world.startWorker();
});
after(() => world.close());

/** The canary's rollout workflows, oldest first, once `count` of them are closed. */
async function rollouts(canary: Canary, count: number) {
  const query =
    `WorkflowType = "rolloutWorkflow" AND CanaryName = "${canary.name}" AND ` +
    `CanaryNamespace = "${world.namespace}" AND ExecutionStatus != "Running"`;
  return waitFor(
    `${count} closed rollout workflows of ${canary.name}`,
    async () => {
      const found = [];
      for await (const execution of world.client.workflow.list({ query })) found.push(execution);
      return found.length >= count
        ? found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime())
        : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}

describe("rollout workflows", () => {
  it("a rolled-back rollout is a Failed workflow whose failure message is the reason", async () => {
    const canary = await world.startCanary("rolled-back", canarySpec({ stepWeight: 25, threshold: 1 }));
    canary.model.successRate = 90;
    await canary.revise("r2");
    await canary.settled("Failed");
    const [rollout] = await rollouts(canary, 1);
    assert.equal(rollout?.status.name, "FAILED");
    const failure = await world.client.workflow
      .getHandle(rollout?.workflowId ?? "")
      .result()
      .then(
        () => assert.fail("the rollout workflow completed"),
        (err: unknown) => err,
      );
    assert.ok(failure instanceof WorkflowFailedError);
    assert.match(
      failure.cause?.message ?? "",
      /^Rolled back revision r2: .*request-success-rate 90\.00 < 99/,
    );
  });

  it("a promoted rollout completes; one replaced by a newer revision completes as Superseded", async () => {
    const canary = await world.startCanary("promoted", canarySpec({ stepWeight: 50, interval: "500ms" }));
    await canary.revise("r2");
    await canary.until("traffic on the canary", (s) => s.routes.canaryWeight > 0);
    await canary.revise("r3");
    await canary.settled("Succeeded");
    const [superseded, promoted] = await rollouts(canary, 2);
    assert.equal(superseded?.status.name, "COMPLETED");
    assert.equal(promoted?.status.name, "COMPLETED");
    const first = await world.client.workflow.getHandle(superseded?.workflowId ?? "").result();
    assert.deepEqual(first, { revision: "r2", outcome: "Superseded", message: "superseded by revision r3" });
    const second = await world.client.workflow.getHandle(promoted?.workflowId ?? "").result();
    assert.equal(second.outcome, "Succeeded");
    assert.equal(second.revision, "r3");
  });
});
