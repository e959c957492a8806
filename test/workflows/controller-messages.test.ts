/**
 * What the controller's level-triggered resends do to a workflow: a revision message that
 * changes nothing is dropped on arrival, so it starts no timer and takes no step; a new
 * generation is taken.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionSignal } from "../../workflows/messages.ts";
import { waitFor } from "../harness/process.ts";
import { type Canary, canarySpec, WorkflowTestWorld } from "./support.ts";

const world = new WorkflowTestWorld();
before(async () => {
  await world.connect();
  await world.startWorker();
});
after(() => world.close());

type Attributes =
  | "timerStartedEventAttributes"
  | "workflowExecutionSignaledEventAttributes"
  | "workflowTaskCompletedEventAttributes";

async function count(canary: Canary, attributes: Attributes): Promise<number> {
  const history = await canary.handle.fetchHistory();
  return (history.events ?? []).filter((e) => e[attributes]).length;
}

/** Upserts of the canary's own search attributes (a patch's first use also upserts TemporalChangeVersion). */
async function phaseUpserts(canary: Canary): Promise<number> {
  const history = await canary.handle.fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.CanaryPhase,
  ).length;
}

describe("revision messages from the controller", () => {
  it("a repeat of the last message starts no timer and takes no step; a new generation is taken", async () => {
    const spec = canarySpec({ interval: "1h", stepWeight: 10, maxWeight: 50, metrics: [] });
    const canary = await world.startCanary("repeats", spec);
    const message = { revision: "r2", spec, generation: 1000 };
    await canary.handle.signal(revisionSignal, message);
    const first = await canary.until("the first step", (s) => s.routes.canaryWeight === 10);
    // The step's reports finish and the interval's timer starts: then the workflow only waits.
    let timers = -1;
    await waitFor(
      "the interval's wait",
      async () => {
        const [now, described] = await Promise.all([
          count(canary, "timerStartedEventAttributes"),
          canary.handle.describe(),
        ]);
        const idle = now === timers && now > 0 && described.raw.pendingActivities?.length === 0;
        timers = now;
        return idle ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 300 },
    );
    const signals = await count(canary, "workflowExecutionSignaledEventAttributes");
    for (let i = 0; i < 3; i++) await canary.handle.signal(revisionSignal, message);
    await waitFor(
      "the repeats in history",
      async () =>
        (await count(canary, "workflowExecutionSignaledEventAttributes")) === signals + 3 ? true : undefined,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      await count(canary, "timerStartedEventAttributes"),
      timers,
      "no new timer: the interval's wait went on",
    );
    const after = await canary.status();
    assert.equal(after.step, first.step);
    assert.equal(after.routes.canaryWeight, 10);

    // A new generation (an edited spec) is a change: the workflow takes it and writes its status again.
    const edited = canarySpec({ interval: "1h", stepWeight: 20, maxWeight: 50, metrics: [] });
    await canary.handle.signal(revisionSignal, { revision: "r2", spec: edited, generation: 1001 });
    await waitFor(
      "a timer restarted for the new spec",
      async () => ((await count(canary, "timerStartedEventAttributes")) > timers ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  });

  it("an idle canary woken by the controller's resyncs upserts no search attributes: nothing they show changed", async () => {
    const spec = canarySpec({ stepWeight: 50 });
    const canary = await world.startCanary("idle-resyncs", spec);
    const rolloutRun = (await canary.handle.describe()).runId;
    await canary.revise("r2");
    await canary.settled("Succeeded");
    // The rollout's run continues as new: count in the new run once its first task is done. A new
    // run can show no pending workflow task before its first one is scheduled, so look for a completed one.
    await waitFor(
      "the idle run after the rollout",
      async () => {
        const described = await canary.handle.describe();
        if (described.runId === rolloutRun || described.raw.pendingWorkflowTask !== null) return undefined;
        return (await count(canary, "workflowTaskCompletedEventAttributes")) > 0 ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const upserts = await phaseUpserts(canary);
    const signals = await count(canary, "workflowExecutionSignaledEventAttributes");
    for (let generation = 2000; generation < 2003; generation++) {
      await canary.handle.signal(revisionSignal, { revision: "r2", spec, generation, resyncStatus: true });
    }
    await waitFor(
      "the resyncs handled",
      async () =>
        (await count(canary, "workflowExecutionSignaledEventAttributes")) === signals + 3 &&
        (await canary.handle.describe()).raw.pendingWorkflowTask === null
          ? true
          : undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await phaseUpserts(canary), upserts);
  });
});
