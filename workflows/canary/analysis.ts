/**
 * The step of a rollout under analysis (Progressing, WaitingPromotion) and of a gate (Waiting):
 * wait until the canary is ready, check the primary, run the webhooks and metrics, then ask the
 * step's gate and advance when it is open.
 */
import { isCancellation } from "@temporalio/workflow";
import type { GateType, WebhookType } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import {
  activityOptions,
  type MetricResult,
  NON_RETRYABLE_ERRORS,
  type ReadinessReport,
  type WebhookResult,
} from "../activity-port.ts";
import {
  evaluateGate,
  gateDeadlineMs,
  gateTimeoutMs,
  isAnalysing,
  isAnalysisStart,
  planStep,
  summarizeChecks,
} from "../decisions/index.ts";
import {
  analysis,
  answersOrErrors,
  call,
  cluster,
  describeError,
  errorType,
  metricsOrErrors,
  readiness,
  webhooks,
} from "./calls.ts";
import { feed } from "./effects.ts";
import { halt } from "./reporting.ts";
import type { Run } from "./run.ts";
import { interruptible } from "./waits.ts";

/** The step of Waiting: the confirm-rollout gate. */
export async function confirmRolloutStep(run: Run): Promise<void> {
  await checkGate(run, "confirm-rollout");
}

/**
 * The step of Progressing and WaitingPromotion: an await of its own around analyse(). How many
 * turns pass between a step's last call and the main loop's next one decides where the report
 * lanes' calls fall among the loop's, and recorded histories hold that order.
 */
export async function analysisStep(run: Run): Promise<void> {
  await analyse(run);
}

/** One analysis interval. */
async function analyse(run: Run): Promise<void> {
  if (run.hardened()) return hardenedAnalysisStep(run);
  const live = run.spec as ResolvedCanarySpec;
  const ready = await interruptible(run, () =>
    readiness.waitCanaryReady.executeWithOptions(
      { ...activityOptions.readiness, summary: "wait for the canary to be ready" },
      [run.target()],
    ),
  ).catch(async (err: unknown) => {
    if (isCancellation(err)) throw err;
    if (errorType(err) === NON_RETRYABLE_ERRORS.deadlineExceeded) {
      await feed(run, { type: "canaryNotReady", deadlineExceeded: true, reason: describeError(err) });
      return undefined;
    }
    throw err;
  });
  if (!ready || !isAnalysing(run.state.phase) || run.hasMail()) return;
  await cluster.checkPrimaryReady.executeWithOptions(
    { ...activityOptions.cluster, summary: "check the primary is ready" },
    [run.target()],
  );

  await checkAndAdvance(
    run,
    (type) => webhooks(run, type),
    () =>
      live.analysis.metrics.length === 0
        ? Promise.resolve([])
        : analysis.runMetrics.executeWithOptions(
            { ...activityOptions.analysis, summary: "run metric checks" },
            [run.target()],
          ),
  );
}

/**
 * One analysis interval, where nothing can hold the canary: the progress deadline is fixed when
 * the wait for readiness begins; a message interrupts the wait and the step runs again at once;
 * a primary that is not ready halts the step until the next interval, as in Flagger; checks
 * that could not run are failed checks.
 */
async function hardenedAnalysisStep(run: Run): Promise<void> {
  const live = run.spec as ResolvedCanarySpec;
  run.readyDeadlineAtMs ??= run.now() + live.progressDeadlineSeconds * 1000;
  // A lean step looks first; it waits (a long, interruptible activity) only when the canary is not ready yet.
  let primary: ReadinessReport | undefined;
  if (run.lean) {
    const seen = await call(run, "cluster", "stepReadiness", "check the canary and the primary are ready");
    if (seen.canary.ready) primary = seen.primary;
  }
  if (!primary && !(await waitForCanary(run, run.readyDeadlineAtMs))) return;
  if (!isAnalysing(run.state.phase)) return;
  run.readyDeadlineAtMs = undefined;
  primary ??= await call(run, "cluster", "primaryReadiness", "check the primary is ready");
  if (!primary.ready) {
    halt(run, `Halting advancement: the primary is not ready: ${primary.message}`);
    return;
  }
  run.lastHalt = "";
  await checkAndAdvance(
    run,
    (type) => answersOrErrors(run, type),
    () => metricsOrErrors(run),
  );
}

/** Waits for the canary to be ready; false when a message interrupted the wait or the deadline passed. */
async function waitForCanary(run: Run, deadlineAtMs: number): Promise<boolean> {
  run.busyWith = "waiting for the canary to be ready";
  let ready: { value: unknown } | undefined;
  try {
    ready = await interruptible(run, () =>
      readiness.waitCanaryReady.executeWithOptions(
        { ...activityOptions.readiness, summary: "wait for the canary to be ready" },
        [run.target(), { deadlineAtMs }],
      ),
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (errorType(err) !== NON_RETRYABLE_ERRORS.deadlineExceeded) throw err;
    await feed(run, { type: "canaryNotReady", deadlineExceeded: true, reason: describeError(err) });
    return false;
  } finally {
    run.busyWith = "";
  }
  if (!ready) {
    // Interrupted by a message: this step has not run, so it runs once the message is handled.
    if (run.stepDueAtMs !== undefined) run.nextStepAtMs = run.stepDueAtMs;
    return false;
  }
  return true;
}

/**
 * The checks of a step once the canary is ready, then the strategy's next step when they pass:
 * skipAnalysis, rollback webhooks, pre-rollout webhooks at the start, else rollout webhooks and
 * metrics, then the step's gate.
 */
async function checkAndAdvance(
  run: Run,
  ask: (type: WebhookType) => Promise<WebhookResult[]>,
  measure: () => Promise<MetricResult[]>,
): Promise<void> {
  const live = run.spec as ResolvedCanarySpec;
  if (live.skipAnalysis) {
    await feed(run, { type: "skipAnalysis" });
    return;
  }
  const asked = (await ask("rollback")).find((w) => w.verdict === "pass");
  if (asked) {
    await feed(run, { type: "rollbackWebhook", webhook: asked.name });
    return;
  }

  run.steps++;
  let verdict: { passed: boolean; message: string };
  if (isAnalysisStart(live.analysis, run.state)) {
    const pre = await ask("pre-rollout");
    run.lastAnalysis = { metrics: [], webhooks: pre };
    verdict = summarizeChecks([], pre);
    await feed(run, {
      type: "checks",
      stage: "pre-rollout",
      passed: verdict.passed,
      message: verdict.message,
    });
  } else {
    const [hooks, metrics] = await Promise.all([ask("rollout"), measure()]);
    run.lastAnalysis = { metrics, webhooks: hooks };
    verdict = summarizeChecks(metrics, hooks);
    await feed(run, { type: "checks", stage: "analysis", passed: verdict.passed, message: verdict.message });
  }
  if (!verdict.passed || !isAnalysing(run.state.phase)) return;

  const step = planStep(live.strategy.kind, live.analysis, run.state);
  if (step.gate) {
    const open = await checkGate(run, step.gate);
    if (!open) return;
  }
  await feed(run, { type: "advance" });
}

/** Asks a gate's webhooks; feeds the outcome; true when it is open. */
async function checkGate(run: Run, gate: GateType): Promise<boolean> {
  const live = run.spec as ResolvedCanarySpec;
  const answers = run.hardened() ? await answersOrErrors(run, gate) : await webhooks(run, gate);
  run.lastAnalysis = {
    ...run.lastAnalysis,
    webhooks: [...run.lastAnalysis.webhooks.filter((w) => w.type !== gate), ...answers],
  };
  const pending = run.state.gate?.type === gate ? run.state.gate : undefined;
  const outcome = evaluateGate({
    webhooksPassed: answers.length > 0 && answers.every((w) => w.verdict === "pass"),
    approved: false,
    sinceMs: pending?.sinceMs,
    nowMs: run.now(),
    timeoutMs: gateTimeoutMs(live.analysis, gate),
  });
  const detail = answers.map((w) => `${w.name}: ${w.message}`).join("; ") || "no answer";
  await feed(run, { type: "gate", gate, outcome, detail });
  return outcome === "open";
}

/** When the pending gate times out, so the wait ends then rather than at the next interval. */
export function gateDeadline(run: Run): number | undefined {
  if (!run.state.gate || !run.spec) return undefined;
  return gateDeadlineMs(run.state.gate, gateTimeoutMs(run.spec.analysis, run.state.gate.type));
}
