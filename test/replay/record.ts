/**
 * Records the histories the replay test guards: representative runs of the canary workflow on a
 * fresh Temporal dev server with the in-memory cluster model. Run after an intended change of
 * workflow behaviour (guarded by patched() for workflows already running):
 *   npm run replay:record
 * Each run of a workflow ID is one file, so continue-as-new chains are covered run by run.
 * `npm run replay:record -- <scenario> ...` records only those scenarios and keeps every other
 * history, so histories of older workflow code go on guarding the workflows it left running.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { requireBinary } from "../../tools/catalog.ts";
import {
  abortUpdate,
  approveUpdate,
  deleteSignal,
  pauseUpdate,
  resumeUpdate,
  retryUpdate,
  revisionSignal,
} from "../../workflows/messages.ts";
import { webhook } from "../unit/helpers/specs.ts";
import { type Canary, canarySpec, type WorkflowTestWorld, withOwnServer } from "../workflows/support.ts";

const out = join(import.meta.dirname, "histories");
/** Failures' stack traces name source files: relative to the repository, not to this machine. */
const repo = join(import.meta.dirname, "../..");

const who = { by: "recorder", reason: "replay history" };

const scenarios: Record<string, (world: WorkflowTestWorld) => Promise<Canary>> = {
  async "canary-promoted"(world) {
    const canary = await world.startCanary(
      "canary-promoted",
      canarySpec({ stepWeight: 50, stepWeightPromotion: 50 }),
    );
    canary.model.failMetricsTimes = 1;
    await canary.revise("r2");
    await canary.settled("Succeeded");
    return canary;
  },
  async "canary-rolled-back"(world) {
    const canary = await world.startCanary(
      "canary-rolled-back",
      canarySpec({ stepWeight: 25, threshold: 2 }),
    );
    canary.model.successRate = 90;
    await canary.revise("r2");
    await canary.settled("Failed");
    return canary;
  },
  async "gates-approved-and-paused"(world) {
    const canary = await world.startCanary(
      "gates-approved-and-paused",
      canarySpec({
        stepWeight: 50,
        webhooks: [webhook("more", "confirm-traffic-increase"), webhook("ship", "confirm-promotion")],
      }),
    );
    canary.model.webhookAnswers.set("confirm-traffic-increase", "fail");
    canary.model.webhookAnswers.set("confirm-promotion", "fail");
    await canary.revise("r2");
    await canary.until("traffic gate", (s) => s.pendingGate?.gate === "confirm-traffic-increase");
    await canary.handle.executeUpdate(approveUpdate, { args: [who] });
    canary.model.webhookAnswers.set("confirm-traffic-increase", "pass");
    await canary.handle.executeUpdate(pauseUpdate, { args: [who] });
    await canary.handle.executeUpdate(resumeUpdate, { args: [who] });
    await canary.until("promotion gate", (s) => s.pendingGate?.gate === "confirm-promotion");
    await canary.handle.executeUpdate(approveUpdate, { args: [who] });
    await canary.settled("Succeeded");
    return canary;
  },
  async "blue-green-aborted-then-deleted"(world) {
    const canary = await world.startCanary(
      "blue-green-aborted-then-deleted",
      canarySpec({ iterations: 5, interval: "1s" }, { revertOnDeletion: true }),
    );
    await canary.revise("r2");
    await canary.until("first iteration", (s) => s.iterations >= 1);
    await canary.handle.executeUpdate(abortUpdate, { args: [who] });
    await canary.settled("Failed");
    await canary.handle.signal(deleteSignal, {});
    await canary.handle.result();
    return canary;
  },
  /** The controller's resends: repeats dropped on arrival, a new generation, a status resync. */
  async "controller-resends"(world) {
    const spec = canarySpec({ stepWeight: 50, interval: "1s" });
    const canary = await world.startCanary("controller-resends", spec);
    const message = { revision: "r2", spec, generation: 100 };
    await canary.handle.signal(revisionSignal, message);
    await canary.until("first step", (s) => s.routes.canaryWeight === 50);
    await canary.handle.signal(revisionSignal, message);
    await canary.handle.signal(revisionSignal, message);
    await sleep(200);
    await canary.handle.signal(revisionSignal, { ...message, generation: 101 });
    await canary.handle.signal(revisionSignal, { ...message, generation: 101, resyncStatus: true });
    await canary.settled("Succeeded");
    return canary;
  },
  /**
   * What must not hold a canary: malformed signals, failed metric calls, a primary that is not
   * ready, and a route change that fails for good until it is fixed, with commands answered.
   */
  async "stalled-and-recovered"(world) {
    const canary = await world.startCanary(
      "stalled-and-recovered",
      canarySpec({ stepWeight: 20, threshold: 3, interval: "500ms" }),
    );
    const raw = canary.handle as unknown as { signal(name: string, ...args: unknown[]): Promise<void> };
    await raw.signal(revisionSignal.name, { revision: "r9", generation: 99 });
    await raw.signal("approve", { by: 42 });
    canary.model.failing.set("runMetrics", "the metrics server cannot be reached");
    await canary.revise("r2");
    await canary.until("a failed check", (s) => s.failedChecks > 0);
    canary.model.failing.delete("runMetrics");
    canary.model.primaryNotReady = "0/2 replicas ready";
    await canary.until("halted", (s) => s.timeline.some((t) => t.message.startsWith("Halting advancement")));
    canary.model.primaryNotReady = undefined;
    canary.model.failing.set("setRoutes", "virtualservices.networking.istio.io is forbidden");
    await canary.until("stalled", (s) => s.timeline.some((t) => t.message.includes("is forbidden")));
    await canary.handle.executeUpdate(abortUpdate, { args: [who] }).catch(() => undefined);
    canary.model.failing.delete("setRoutes");
    await canary.settled("Failed");
    await sleep(1500);
    return canary;
  },
  /** An idle canary woken by the controller's status resyncs: nothing it shows changes. */
  async "idle-resyncs"(world) {
    const spec = canarySpec({ stepWeight: 50 });
    const canary = await world.startCanary("idle-resyncs", spec);
    for (let generation = 100; generation < 103; generation++) {
      await canary.handle.signal(revisionSignal, { revision: "r1", spec, generation, resyncStatus: true });
    }
    await canary.revise("r2");
    await canary.settled("Succeeded");
    await sleep(500);
    return canary;
  },
  /** A primary left at r1 by a lost workflow while the target runs r2; then deleted and recreated. */
  async "taken-over-then-retried"(world) {
    // Initialization finds a revision Flagger left mid-rollout: failed, then retried by a user.
    const canary = await world.startCanary("taken-over-then-retried", canarySpec({ stepWeight: 50 }), "r2", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = "flagger-hash";
        model.rolledBack = { revision: "r2", reason: "taken over from Flagger mid-rollout" };
      },
    });
    await canary.settled("Failed");
    await canary.handle.executeUpdate(retryUpdate, { args: [who] });
    await canary.settled("Succeeded");
    return canary;
  },
  async "reinitialized-then-recreated"(world) {
    const spec = canarySpec({ stepWeight: 50 });
    const canary = await world.startCanary("reinitialized-then-recreated", spec, "r2", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = "r1";
      },
    });
    await canary.settled("Succeeded");
    canary.model.delays.set("finalize", 1000);
    await canary.handle.signal(deleteSignal, {});
    await canary.handle.signal(revisionSignal, { revision: "r3", spec, generation: 1 });
    await canary.settled("Succeeded");
    return canary;
  },
};

const only = process.argv.slice(2);
const unknown = only.filter((name) => !(name in scenarios));
if (unknown.length > 0)
  throw new Error(`no such scenario: ${unknown.join(", ")}; known: ${Object.keys(scenarios).join(", ")}`);

await withOwnServer("record", async (world, server) => {
  if (only.length === 0) rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length > 0 && !only.includes(name)) continue;
    for (const old of readdirSync(out).filter((f) => f.startsWith(`${name}.run-`))) rmSync(join(out, old));
    const canary = await run(world);
    // Every run of the chain, found by walking it back from the latest: visibility may lag.
    const executions: { workflowId: string; runId: string }[] = [];
    let runId: string | undefined = (await canary.handle.describe()).runId;
    while (runId) {
      executions.unshift({ workflowId: canary.handle.workflowId, runId });
      const history = await world.client.workflow.getHandle(canary.handle.workflowId, runId).fetchHistory();
      runId =
        history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    }
    let runs = 0;
    for (const execution of executions) {
      runs++;
      // The CLI writes the proto3 JSON that historyFromJSON reads, as the UI's export does.
      const json = execFileSync(requireBinary("temporal"), [
        ...["workflow", "show", "--address", server.address, "--namespace", server.namespace],
        ...["--workflow-id", execution.workflowId, "--run-id", execution.runId, "--output", "json"],
      ]);
      // Compact: the histories are data for the replayer, not for reading.
      writeFileSync(
        join(out, `${name}.run-${execution.runId.slice(0, 8)}.json`),
        JSON.stringify(JSON.parse(json.toString())).replaceAll(`${repo}/`, ""),
      );
    }
    process.stdout.write(`recorded ${name}: ${runs} run(s)\n`);
  }
});
