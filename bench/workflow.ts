/**
 * Workflow benchmark (prints figures, asserts nothing about time): on a fresh Temporal dev server,
 * with instant in-memory activities,
 *  - an N-step canary rollout at a 1 s interval: wall time / (N × interval);
 *  - 50 trials each of abort, skip and approve: from the client's update call to the route change
 *    in the cluster model.
 * Usage: npm run bench:workflow [-- --steps 10 --trials 50]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { webhook } from "../test/unit/helpers/specs.ts";
import { canarySpec, withOwnServer } from "../test/workflows/support.ts";
import { abortUpdate, approveUpdate, skipUpdate } from "../workflows/messages.ts";
import { log, percentile } from "./figures.ts";
import { ordinaryStepCost, temporalActions } from "./step-cost.ts";

const { values } = parseArgs({
  options: { steps: { type: "string", default: "10" }, trials: { type: "string", default: "50" } },
});
const steps = Number(values.steps);
const trials = Number(values.trials);
const intervalMs = 1000;
const operator = { by: "bench", reason: "latency trial" };

Runtime.install({ logger: new DefaultLogger("ERROR") });
await withOwnServer("bench-workflow", async (world) => {
  // The rollout: `steps` weight steps (the first at once), then promotion one interval later.
  // A spec the size of Flagger's documented examples: two metrics, a pre-rollout and a load-test hook.
  const rollout = await world.startCanary(
    "bench-rollout",
    canarySpec({
      interval: `${intervalMs}ms`,
      stepWeight: 100 / steps,
      threshold: 1,
      metrics: [
        { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
        { name: "request-duration", thresholdRange: { max: 500 }, interval: "30s" },
      ],
      webhooks: [webhook("acceptance-test", "pre-rollout"), webhook("load-test", "rollout")],
    }),
  );
  const rolloutRunId = (await rollout.handle.describe()).runId;
  const started = performance.now();
  const startedAt = Date.now();
  await rollout.revise("r2");
  // Until the Canary's status says Succeeded in the cluster model, not until a client notices.
  while (rollout.model.lastStatus?.phase !== "Succeeded") await sleep(2);
  const wallMs = performance.now() - started;
  const overhead = wallMs / (steps * intervalMs);
  log(`rollout: ${steps} steps at ${intervalMs} ms took ${wallMs.toFixed(0)} ms`);
  const changes = rollout.model.routeLog.map((r) => `${r.routes.canaryWeight}%@${r.at - startedAt}ms`);
  log(`  route changes: ${changes.join(" ")}`);
  // The run that carried the rollout (each rollout ends with continue-as-new).
  const described = await world.client.workflow.getHandle(rollout.handle.workflowId, rolloutRunId).describe();
  const rolloutRun = {
    events: described.historyLength,
    bytes: Number(described.raw.workflowExecutionInfo?.historySizeBytes ?? 0),
  };
  log(`history of the ${steps}-step rollout: ${rolloutRun.events} events, ${rolloutRun.bytes} bytes`);
  log(`history_bytes=${rolloutRun.bytes}`);
  const history = await world.client.workflow
    .getHandle(rollout.handle.workflowId, rolloutRunId)
    .fetchHistory();
  const cost = ordinaryStepCost(history.events ?? [], "analysis interval");
  log(`an ordinary analysis step (mean of ${cost.steps}):`);
  log(`workflow_tasks_per_step=${cost.workflowTasks.toFixed(1)}`);
  log(`activities_per_step=${cost.activities.toFixed(1)}`);
  log(`local_activities_per_step=${cost.localActivities.toFixed(1)}`);
  log(`events_per_step=${cost.events.toFixed(1)}`);
  log(`history_bytes_per_step=${cost.bytes.toFixed(0)}`);
  log(`temporal_actions_per_step=${cost.actions.toFixed(1)}`);
  log(`temporal_actions_per_rollout=${temporalActions(history.events ?? [])}`);

  const latencies: Record<string, number[]> = { abort: [], skip: [], approve: [] };
  for (let i = 0; i < trials; i++) {
    for (const command of ["abort", "skip", "approve"] as const) {
      const gated = command === "approve";
      const canary = await world.startCanary(
        `bench-${command}-${i}`,
        canarySpec({
          interval: "1h",
          stepWeight: 10,
          ...(gated ? { webhooks: [webhook("gate", "confirm-traffic-increase")] } : {}),
        }),
      );
      if (gated) canary.model.webhookAnswers.set("confirm-traffic-increase", "fail");
      await canary.revise("r2");
      if (gated) await canary.until("gate pending", (s) => s.pendingGate !== undefined);
      // The route in the cluster model, not the workflow's state: the state changes before its effects run.
      else while (canary.model.routes.canaryWeight !== 10) await sleep(2);
      const changes = canary.model.routeLog.length;
      const sent = Date.now();
      const update = { abort: abortUpdate, skip: skipUpdate, approve: approveUpdate }[command];
      await canary.handle.executeUpdate(update, { args: [operator] });
      while (canary.model.routeLog.length === changes) await sleep(2);
      latencies[command]?.push((canary.model.routeLog[changes]?.at ?? Number.NaN) - sent);
    }
    if ((i + 1) % 10 === 0) log(`command trials: ${i + 1}/${trials}`);
  }

  const all: number[] = [];
  for (const [command, values] of Object.entries(latencies)) {
    const sorted = [...values].sort((a, b) => a - b);
    all.push(...sorted);
    log(
      `${command}: p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`,
    );
  }
  all.sort((a, b) => a - b);
  log(`overhead_ratio=${overhead.toFixed(4)}`);
  log(`command_latency_p50_ms=${percentile(all, 50)}`);
  log(`command_latency_p99_ms=${percentile(all, 99)}`);
});
