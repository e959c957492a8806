/**
 * Nothing holds a canary forever: failing effects stall in order and are retried while messages
 * are handled; a primary that is not ready halts a step; failed analysis calls are failed checks;
 * malformed signals are dropped; initialization can be fixed by a new revision and never marks an
 * unpromoted revision as promoted; the progress deadline cannot be postponed; a step is never cut
 * short by a message; deletion is best-effort and a recreated Canary starts afresh.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WorkflowUpdateFailedError } from "@temporalio/client";
import {
  abortUpdate,
  approveSignal,
  deleteSignal,
  pauseUpdate,
  revisionSignal,
} from "../../workflows/messages.ts";
import { waitFor } from "../harness/process.ts";
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

async function running(handle: { describe(): Promise<{ status: { name: string } }> }): Promise<void> {
  assert.equal((await handle.describe()).status.name, "RUNNING", "the workflow must stay healthy");
}

describe("effects that fail", () => {
  it("a route change that keeps failing stalls the rollback in order, never fails the workflow, and finishes once it works", async () => {
    const canary = await world.startCanary("stalled-routes", canarySpec({ stepWeight: 20, threshold: 1 }));
    await canary.revise("r2");
    // The cluster's route, not the workflow's state: the state moves before its effects run.
    await waitFor(
      "traffic on the canary",
      async () => (canary.model.routes.canaryWeight > 0 ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    canary.model.failing.set("setRoutes", "virtualservices.networking.istio.io is forbidden");
    canary.model.failMetricsTimes = 100;
    const stalled = await canary.until("rollback stalled", (s) =>
      s.timeline.some((t) => t.message.includes("route 100% to primary failed")),
    );
    assert.equal(stalled.phase, "Failed");
    // Traffic could not leave the canary, so it must still be running.
    assert.ok(canary.model.routes.canaryWeight > 0);
    assert.equal(canary.model.canaryScaledUp, true, "never scaled down while traffic still reaches it");
    await running(canary.handle);

    // Commands are answered while the effect is stalled.
    const answer = await canary.handle.executeUpdate(pauseUpdate, { args: [alice] }).catch((e: unknown) => e);
    assert.ok(answer instanceof WorkflowUpdateFailedError, "pause of a failed canary is rejected, at once");

    canary.model.failing.delete("setRoutes");
    await waitFor("rollback completed", async () => (!canary.model.canaryScaledUp ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    assert.equal(canary.model.routes.canaryWeight, 0);
    const lastRoute = canary.model.calls.lastIndexOf("setRoutes");
    const scaleDown = canary.model.calls.lastIndexOf("scaleCanary");
    assert.ok(lastRoute < scaleDown, "traffic leaves the canary before it is scaled down");
    await running(canary.handle);
  });

  it("metric checks that cannot run are failed checks, not a rollback", async () => {
    const canary = await world.startCanary("metrics-down", canarySpec({ stepWeight: 50, threshold: 3 }));
    canary.model.failing.set("runMetrics", "the metrics server cannot be reached");
    await canary.revise("r2");
    const failing = await canary.until("a failed check", (s) => s.failedChecks > 0);
    assert.equal(failing.phase, "Progressing");
    assert.match(
      failing.lastAnalysis.metrics[0]?.message ?? "",
      /request-success-rate: the check could not run: .*metrics server cannot be reached/,
    );
    canary.model.failing.delete("runMetrics");
    await canary.settled("Succeeded");
  });

  it("a primary that is not ready halts advancement, is checked again each interval, and commands still apply", async () => {
    const canary = await world.startCanary("primary-unready", canarySpec({ stepWeight: 20 }));
    await canary.revise("r2");
    await canary.until("traffic on the canary", (s) => s.routes.canaryWeight > 0);
    canary.model.primaryNotReady = "0/2 replicas ready";
    const halted = await canary.until("halted", (s) =>
      s.timeline.some((t) => t.message.includes("Halting advancement: the primary is not ready: 0/2")),
    );
    const weight = halted.routes.canaryWeight;
    await sleep(1000);
    assert.equal(
      (await canary.status()).routes.canaryWeight,
      weight,
      "no step while the primary is not ready",
    );
    const result = await canary.handle.executeUpdate(abortUpdate, { args: [alice] });
    assert.equal(result.phase, "Failed");
    await running(canary.handle);
  });

  it("a delete whose revert fails still ends the workflow as Terminated, with a warning", async () => {
    const canary = await world.startCanary(
      "finalize-fails",
      canarySpec({ stepWeight: 50 }, { revertOnDeletion: true }),
    );
    canary.model.failing.set("finalize", "deployments.apps podinfo not found");
    await canary.handle.signal(deleteSignal, {});
    assert.deepEqual(await canary.handle.result(), { phase: "Terminated" });
    assert.ok(canary.model.events.some((e) => e.type === "Warning" && e.message.includes("finalize")));
  });

  it("a Canary recreated under the same name right after a delete starts afresh", async () => {
    const canary = await world.startCanary("recreated", canarySpec({ stepWeight: 50 }));
    const firstRun = (await canary.handle.describe()).runId;
    // The revert takes a while, so the new Canary's message arrives while the old one is finalized.
    canary.model.delays.set("finalize", 1000);
    await canary.handle.signal(deleteSignal, {});
    await canary.handle.signal(revisionSignal, { revision: "r7", spec: canary.spec, generation: 1 });
    await waitFor(
      "a new run",
      async () => {
        const described = await canary.handle.describe();
        return described.runId !== firstRun && described.status.name === "RUNNING" ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const status = await canary.until("the new canary took r7", (s) => s.revision === "r7");
    assert.equal(status.lastPromotedRevision, "r1", "the model's primary still runs r1");
  });
});

describe("initialization", () => {
  it("takes the primary's revision from the cluster and rolls out the newer target instead of marking it promoted", async () => {
    // The cluster holds a primary at r1 (a workflow was lost) while the target now runs r2.
    const canary = await world.startCanary("reinit", canarySpec({ stepWeight: 50 }), "r2", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = "r1";
      },
    });
    const status = await canary.until("rolling out r2", (s) => s.phase === "Progressing");
    assert.equal(status.lastPromotedRevision, "r1");
    assert.equal(status.revision, "r2");
    await canary.settled("Succeeded");
    assert.deepEqual(canary.model.promotions, ["r2"]);
  });

  it("a first version that never becomes ready is replaced by a new revision", async () => {
    const canary = await world.startCanary("never-ready", canarySpec({ stepWeight: 50 }), "bad", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = undefined;
        model.neverReadyRevision = "bad";
      },
    });
    await canary.until("initializing", (s) => s.phase === "Initializing");
    await sleep(500);
    await canary.revise("good");
    const status = await canary.until("initialized at the fixed revision", (s) => s.phase === "Initialized");
    assert.equal(status.lastPromotedRevision, "good");
    await running(canary.handle);
  });
});

describe("messages", () => {
  it("malformed signals are dropped with a timeline entry, and the canary still rolls out", async () => {
    const canary = await world.startCanary("malformed", canarySpec({ stepWeight: 50 }));
    const raw = canary.handle as unknown as { signal(name: string, ...args: unknown[]): Promise<void> };
    await raw.signal(revisionSignal.name);
    await raw.signal(revisionSignal.name, { revision: "r9", generation: 99 });
    await raw.signal("approve", { by: 42 });
    const status = await canary.until(
      "three dropped",
      (s) => s.timeline.filter((t) => t.message.startsWith("Ignored a malformed")).length === 3,
    );
    assert.ok(status.timeline.some((t) => t.message.includes('"spec" is missing')));
    await canary.revise("r2");
    await canary.settled("Succeeded");
  });

  it("long command texts are cut to a sane length", async () => {
    const canary = await world.startCanary("long-reason", canarySpec({ stepWeight: 50 }));
    await canary.handle.signal(approveSignal, { by: "b".repeat(10_000), reason: "r".repeat(100_000) });
    const status = await canary.until("the command noted", (s) => s.timeline.some((t) => t.by !== undefined));
    const entry = status.timeline.find((t) => t.by !== undefined);
    assert.ok((entry?.by?.length ?? 0) <= 128);
    assert.ok((entry?.reason?.length ?? 0) <= 512);
  });

  it("a message with an older generation still delivers its revision", async () => {
    const canary = await world.startCanary("stale-generation", canarySpec({ stepWeight: 50 }));
    await canary.handle.signal(revisionSignal, { revision: "r2", spec: canary.spec, generation: 0 });
    await canary.settled("Succeeded");
    assert.deepEqual(canary.model.promotions, ["r2"]);
  });

  it("a message during the readiness wait does not push the step an interval back", async () => {
    const canary = await world.startCanary(
      "interrupted-step",
      canarySpec({ interval: "4s", stepWeight: 50 }),
    );
    canary.model.canaryNotReadyYet = true;
    await canary.revise("r2");
    await canary.until("waiting for the canary", (s) => s.phase === "Progressing");
    await sleep(300);
    await canary.handle.signal(revisionSignal, {
      revision: "r2",
      spec: canary.spec,
      generation: 1000,
      resyncStatus: true,
    });
    await sleep(300);
    const readyAt = Date.now();
    canary.model.canaryNotReadyYet = false;
    await waitFor(
      "the first step",
      async () => (canary.model.weights.some((w) => w > 0) ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    const took = Date.now() - readyAt;
    assert.ok(took < 2500, `the step ran ${took} ms after the canary became ready, not an interval later`);
  });

  it("a step that outlasts its interval is followed by a whole interval, so every weight is analysed", async () => {
    const canary = await world.startCanary("overran-step", canarySpec({ interval: "1s", stepWeight: 20 }));
    await canary.revise("r2");
    await waitFor("the first weight", async () => (canary.model.weights.includes(20) ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    // The next step waits for the canary well past its interval.
    canary.model.canaryNotReadyYet = true;
    await sleep(3000);
    canary.model.canaryNotReadyYet = false;
    await canary.settled("Succeeded");
    const at = (weight: number) => canary.model.routeLog.find((r) => r.routes.canaryWeight === weight)?.at;
    const [late, next] = [at(40), at(60)];
    assert.ok(late !== undefined && next !== undefined);
    assert.ok(next - late >= 900, `40% was analysed for ${next - late} ms before 60%, not an interval`);
  });

  it("repeated interruptions cannot postpone the progress deadline", async () => {
    const canary = await world.startCanary(
      "deadline-anchor",
      canarySpec({ stepWeight: 50 }, { progressDeadlineSeconds: 3 }),
    );
    canary.model.canaryNotReadyYet = true;
    await canary.revise("r2");
    let generation = 2000;
    const nudges = setInterval(() => {
      void canary.handle
        .signal(revisionSignal, { revision: "r2", spec: canary.spec, generation: generation++ })
        .catch(() => undefined);
    }, 500);
    try {
      const status = await canary.until("rolled back", (s) => s.phase === "Failed", 12_000);
      assert.match(status.message, /progress deadline/);
    } finally {
      clearInterval(nudges);
    }
  });
});

describe("history size", () => {
  it("activities get the spec's digest, not the spec, so the history does not hold it at every call", async () => {
    const canary = await world.startCanary("compact-inputs", canarySpec({ stepWeight: 50 }));
    const run = (await canary.handle.describe()).runId;
    await canary.revise("r2");
    await canary.settled("Succeeded");
    const history = await world.client.workflow.getHandle(canary.handle.workflowId, run).fetchHistory();
    const events = history.events ?? [];
    const inputs = events
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a !== undefined && a !== null)
      .map((a) => Buffer.from(a.input?.payloads?.[0]?.data ?? new Uint8Array()).toString());
    assert.ok(inputs.length > 0);
    for (const input of inputs) {
      assert.doesNotMatch(input, /"targetRef"/, "no activity input carries the spec");
      assert.match(input, /"specDigest":"[0-9a-f]{16}"/);
    }
    // The short calls are local activities: their markers record results, never the spec.
    const markers = events.filter((e) => e.markerRecordedEventAttributes);
    assert.ok(markers.length > 5);
    const recorded = markers.map((marker) =>
      Object.values(marker.markerRecordedEventAttributes?.details ?? {})
        .flatMap((d) => d.payloads ?? [])
        .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString())
        .join("\n"),
    );
    assert.ok(
      recorded.some((text) => text.includes('"the canary is ready"')),
      "markers hold the results",
    );
    for (const text of recorded) assert.doesNotMatch(text, /"targetRef"/, "no marker records the spec");
  });
});

describe("deletion in every state", () => {
  type Setup = (canary: Awaited<ReturnType<typeof world.startCanary>>) => Promise<void>;
  const gated = { webhooks: [webhook("gate", "confirm-rollout")] };
  const states: [string, Record<string, unknown>, Setup][] = [
    ["Initialized", {}, async () => {}],
    [
      "Waiting",
      gated,
      async (canary) => {
        canary.model.webhookAnswers.set("confirm-rollout", "fail");
        await canary.revise("r2");
        await canary.until("waiting", (s) => s.phase === "Waiting");
      },
    ],
    [
      "Progressing",
      {},
      async (canary) => {
        await canary.revise("r2");
        await canary.until("traffic on the canary", (s) => s.routes.canaryWeight > 0);
      },
    ],
    [
      "Progressing, paused",
      {},
      async (canary) => {
        await canary.revise("r2");
        await canary.until("traffic on the canary", (s) => s.routes.canaryWeight > 0);
        await canary.handle.executeUpdate(pauseUpdate, { args: [alice] });
      },
    ],
    [
      "Promoting, primary not ready",
      { stepWeight: 50 },
      async (canary) => {
        // A promotion runs within one workflow task: a failing one holds the canary in Promoting.
        canary.model.failing.set("promote", "deployments.apps is forbidden");
        await canary.revise("r2");
        await canary.until("promoting", (s) => s.phase === "Promoting");
        canary.model.primaryNotReady = "0/1 replicas ready";
      },
    ],
    [
      "Failed",
      {},
      async (canary) => {
        canary.model.successRate = 50;
        await canary.revise("r2");
        await canary.settled("Failed");
      },
    ],
    [
      "Succeeded",
      { stepWeight: 50 },
      async (canary) => {
        await canary.revise("r2");
        await canary.settled("Succeeded");
      },
    ],
    [
      "stalled on a failing route change",
      {},
      async (canary) => {
        await canary.revise("r2");
        await canary.until("traffic on the canary", (s) => s.routes.canaryWeight > 0);
        canary.model.failing.set("setRoutes", "virtualservices.networking.istio.io is forbidden");
        await canary.until("stalled", (s) => s.timeline.some((t) => t.message.includes("is forbidden")));
      },
    ],
  ];
  for (const [name, analysis, setup] of states) {
    it(`deleted while ${name}: the traffic goes back to the target and the workflow ends as Terminated`, async () => {
      const canary = await world.startCanary(
        `delete-${name.replace(/[^a-z]+/gi, "-").toLowerCase()}`,
        canarySpec({ stepWeight: 20, ...analysis }, { revertOnDeletion: true }),
      );
      await setup(canary);
      canary.model.failing.delete("setRoutes");
      await canary.handle.signal(deleteSignal, {});
      assert.deepEqual(await canary.handle.result(), { phase: "Terminated" });
      assert.deepEqual(canary.model.finalized, { revert: true });
      assert.equal(canary.model.routes.canaryWeight, 0);
    });
  }
  it("deleted while initializing a version that never becomes ready: ends as Terminated", async () => {
    const canary = await world.startCanary("delete-initializing", canarySpec({ stepWeight: 50 }), "bad", {
      initialized: false,
      prepare: (model) => {
        model.primaryRevision = undefined;
        model.neverReadyRevision = "bad";
      },
    });
    await canary.until("initializing", (s) => s.phase === "Initializing");
    await canary.handle.signal(deleteSignal, {});
    assert.deepEqual(await canary.handle.result(), { phase: "Terminated" });
  });
});
