/**
 * What the canary workflow tells the world: the Canary's status, Kubernetes Events, alerts,
 * search attributes, the Temporal UI's details and the `status` query's view. Reports never hold
 * the rollout back: they run in lanes of their own, and a lean run sends a step's in one call.
 */
import { isCancellation, log, setCurrentDetails, upsertSearchAttributes } from "@temporalio/workflow";
import { searchAttributes } from "../../src/temporal/search-attributes.ts";
import { activityOptions, type CanaryEvent } from "../activity-port.ts";
import { gateDeadlineMs, gateTimeoutMs, projectStatus } from "../decisions/index.ts";
import type { CanaryStatusView } from "../messages.ts";
import { call, describeError, report, short } from "./calls.ts";
import { CHANGED_ATTRIBUTES_PATCH, METRIC_STATUS_PATCH } from "./patches.ts";
import type { Run } from "./run.ts";

/**
 * Reports run in lanes of their own so they never hold the rollout back: status writes one
 * after another (the last one wins), events and alerts one after another (they keep their
 * order). A report that fails after its retries is logged and the rollout goes on. The lanes
 * are drained before the run ends.
 */
export function reportLater(
  run: Run,
  lane: keyof Run["lanes"],
  what: string,
  send: () => Promise<unknown>,
): void {
  run.lanes[lane] = run.lanes[lane].then(() =>
    send().then(
      () => undefined,
      (err: unknown) => {
        if (isCancellation(err)) throw err;
        log.warn(`${what} failed`, { error: describeError(err) });
      },
    ),
  );
}

/** Sends what is left and waits until every lane is done. */
export function reportsDone(run: Run): Promise<unknown> {
  flushReports(run);
  return Promise.all([run.lanes.status, run.lanes.notify]);
}

/** Sends the outbox in one call, in the status lane (one report after another). */
export function flushReports(run: Run): void {
  if (!run.outbox.status && run.outbox.events.length === 0) return;
  const sent = run.outbox;
  run.outbox = { status: undefined, events: [] };
  const parts = [
    ...(sent.status ? [`status: ${sent.status.phase}, ${sent.status.canaryWeight}% canary`] : []),
    ...(sent.events.length > 0 ? [`${sent.events.length} event(s)`] : []),
  ];
  reportLater(run, "status", "report", () =>
    call(run, "report", "report", `report ${parts.join(", ")}`, sent),
  );
}

/**
 * A Kubernetes Event on the Canary, summarised in the workflow's timeline by its text: sent at
 * the end of the step in a lean run, else at once in the notify lane.
 */
export function recordEvent(run: Run, event: CanaryEvent): void {
  if (run.lean) {
    run.outbox.events.push(event);
    return;
  }
  const t = run.target();
  reportLater(run, "notify", "recordEvent", () =>
    report.recordEvent.executeWithOptions(
      { ...activityOptions.report, summary: short(`event ${event.type}: ${event.message}`) },
      [t, event],
    ),
  );
}

/** A Warning Event and a timeline entry, for what halts or stalls the rollout. */
export function warn(run: Run, message: string): void {
  run.remember({ message });
  log.warn(message);
  recordEvent(run, { type: "Warning", reason: run.state.phase, message });
}

/** Notes why a step halted, once per distinct reason. */
export function halt(run: Run, message: string): void {
  if (message === run.lastHalt) return;
  run.lastHalt = message;
  warn(run, message);
}

/** Writes status, search attributes and UI details when what they show has changed. */
export function publish(run: Run): void {
  const { state } = run;
  const shown = `${state.phase}/${state.route.canaryWeight}/${state.revision ?? ""}`;
  // Each upsert is a history event: an idle canary woken by a message writes none.
  if (shown !== run.published || !run.applies(CHANGED_ATTRIBUTES_PATCH)) {
    upsertSearchAttributes([
      { key: searchAttributes.CanaryPhase, value: state.phase },
      { key: searchAttributes.CanaryWeight, value: state.route.canaryWeight },
      ...(state.revision ? [{ key: searchAttributes.TargetRevision, value: state.revision }] : []),
    ]);
    run.published = shown;
  }
  setCurrentDetails(details(run));
}

/** Writes the Canary's status when it has changed: at once, or with the step's report in a lean run. */
export function syncStatus(run: Run): void {
  if (!run.spec) return;
  const { state } = run;
  const projected = projectStatus(state);
  const metrics = run.applies(METRIC_STATUS_PATCH)
    ? run.lastAnalysis.metrics.map((m) => ({ name: m.name, value: m.value, verdict: m.verdict }))
    : undefined;
  const key = JSON.stringify(metrics === undefined ? projected : [projected, metrics]);
  if (key === run.synced) return;
  run.synced = key;
  const t = run.target();
  const status = {
    phase: state.phase,
    canaryWeight: projected.canaryWeight,
    failedChecks: projected.failedChecks,
    iterations: projected.iterations,
    revision: state.revision,
    lastPromotedRevision: state.lastPromotedRevision,
    message: projected.condition.message,
    ...(metrics === undefined ? {} : { metrics }),
    ...(run.statusMayBeStale ? { reread: true } : {}),
  };
  run.statusMayBeStale = false;
  if (run.lean) {
    // Every phase the canary passes through is written; within a phase only the last status.
    if (run.outbox.status && run.outbox.status.phase !== status.phase) flushReports(run);
    run.outbox.status = run.outbox.status?.reread ? { ...status, reread: true } : status;
    return;
  }
  const summary = `status: ${status.phase}, ${status.canaryWeight}% canary`;
  reportLater(run, "status", "syncStatus", () =>
    report.syncStatus.executeWithOptions({ ...activityOptions.report, summary }, [t, status]),
  );
}

/** What the `status` query answers. */
export function statusView(run: Run): CanaryStatusView {
  const { state, spec, ref } = run;
  const projected = projectStatus(state);
  const gate = state.gate;
  const timeoutMs = gate && spec ? gateTimeoutMs(spec.analysis, gate.type) : undefined;
  const deadline = gate ? gateDeadlineMs(gate, timeoutMs) : undefined;
  return {
    namespace: ref.namespace,
    name: ref.name,
    phase: state.phase,
    revision: state.revision,
    lastPromotedRevision: state.lastPromotedRevision,
    failedRevision: state.lastFailedRevision,
    routes: state.route,
    failedChecks: state.failedChecks,
    iterations: state.iterations,
    step: run.steps,
    paused: state.pausedAtMs !== undefined,
    pendingGate: gate && {
      gate: gate.type,
      since: new Date(gate.sinceMs).toISOString(),
      deadline: deadline === undefined ? undefined : new Date(deadline).toISOString(),
      webhooks: run.lastAnalysis.webhooks.filter((w) => w.type === gate.type),
    },
    lastAnalysis: run.lastAnalysis,
    message: projected.condition.message,
    timeline: run.timeline,
  };
}

/** The workflow's current details in the Temporal UI, in Markdown. */
export function details(run: Run): string {
  const view = statusView(run);
  const { ref, spec } = run;
  const lines = [
    `**${ref.namespace}/${ref.name}** — ${view.phase}${view.paused ? " (paused)" : ""}`,
    "",
    `- revision: ${view.revision ?? "none"} (primary runs ${view.lastPromotedRevision ?? "none"})`,
    `- traffic: ${view.routes.primaryWeight}% primary / ${view.routes.canaryWeight}% canary${view.routes.mirror ? " + mirror" : ""}`,
    `- failed checks: ${view.failedChecks}${spec ? ` of ${spec.analysis.threshold}` : ""}, iterations: ${view.iterations}`,
    `- ${view.message}`,
  ];
  if (view.pendingGate) {
    lines.push(`- waiting at gate **${view.pendingGate.gate}** since ${view.pendingGate.since}`);
  }
  for (const m of view.lastAnalysis.metrics) lines.push(`- metric ${m.name}: ${m.verdict} — ${m.message}`);
  for (const w of view.lastAnalysis.webhooks)
    lines.push(`- webhook ${w.name} (${w.type}): ${w.verdict} — ${w.message}`);
  return lines.join("\n");
}
