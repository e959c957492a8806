/**
 * The status of a canary as the command line shows it: a stable shape (the `-o json` output of
 * `status` and `watch`, documented in docs/cli.md) built from the workflow's status query and the
 * spec in force, so the workflow's internal view can change without breaking scripts.
 */

import type { CanaryStatusView, TimelineEntry } from "../../workflows/messages.ts";
import type { CanaryPhase } from "../api/canary.ts";
import type { ResolvedCanarySpec } from "../api/defaults.ts";
import { type StepPosition, stepPosition } from "./progress.ts";
import { isRolling } from "./runs.ts";

export interface CommandNote {
  readonly command: string;
  readonly by: string;
  readonly reason: string;
  readonly at: string;
  /** What became of it: "abort accepted", "skip ignored: nothing to skip: phase is Succeeded". */
  readonly result: string;
}

export interface StatusReport {
  readonly namespace: string;
  readonly name: string;
  readonly workflowId: string;
  readonly phase: CanaryPhase;
  readonly paused: boolean;
  readonly message: string;
  readonly revisions: {
    readonly canary: string | null;
    readonly primary: string | null;
    readonly failed: string | null;
  };
  readonly traffic: { readonly primary: number; readonly canary: number; readonly mirror: boolean };
  /** Null when no rollout is under way or the spec is not known. */
  readonly step: StepPosition | null;
  readonly checks: { readonly failed: number; readonly threshold: number | null };
  readonly iterations: number;
  readonly metrics: readonly {
    readonly name: string;
    readonly value: number | null;
    readonly min: number | null;
    readonly max: number | null;
    readonly verdict: string;
    readonly message: string;
  }[];
  readonly webhooks: readonly {
    readonly name: string;
    readonly type: string;
    readonly verdict: string;
    readonly statusCode: number | null;
    readonly message: string;
  }[];
  readonly gate: { readonly name: string; readonly since: string; readonly deadline: string | null } | null;
  readonly lastCommand: CommandNote | null;
}

/** The last operator command in the timeline (its entries carry `by`). */
export function lastCommand(timeline: readonly TimelineEntry[]): CommandNote | null {
  const entry = timeline.findLast((e) => e.by !== undefined);
  if (!entry) return null;
  return {
    command: entry.message.split(" ")[0] ?? entry.message,
    by: entry.by ?? "unknown",
    reason: entry.reason ?? "",
    at: entry.at,
    result: entry.message,
  };
}

export function statusReport(
  view: CanaryStatusView,
  spec: ResolvedCanarySpec | undefined,
  workflowId: string,
): StatusReport {
  return {
    namespace: view.namespace,
    name: view.name,
    workflowId,
    phase: view.phase,
    paused: view.paused,
    message: view.message,
    revisions: {
      canary: view.revision ?? null,
      primary: view.lastPromotedRevision ?? null,
      failed: view.failedRevision ?? null,
    },
    traffic: {
      primary: view.routes.primaryWeight,
      canary: view.routes.canaryWeight,
      mirror: view.routes.mirror,
    },
    step: spec && isRolling(view.phase) ? stepPosition(spec, view.routes, view.iterations) : null,
    checks: { failed: view.failedChecks, threshold: spec?.analysis.threshold ?? null },
    iterations: view.iterations,
    metrics: view.lastAnalysis.metrics.map((m) => ({
      name: m.name,
      value: m.value ?? null,
      min: m.thresholdRange.min ?? null,
      max: m.thresholdRange.max ?? null,
      verdict: m.verdict,
      message: m.message,
    })),
    webhooks: view.lastAnalysis.webhooks.map((w) => ({
      name: w.name,
      type: w.type,
      verdict: w.verdict,
      statusCode: w.statusCode ?? null,
      message: w.message,
    })),
    gate: view.pendingGate
      ? {
          name: view.pendingGate.gate,
          since: view.pendingGate.since,
          deadline: view.pendingGate.deadline ?? null,
        }
      : null,
    lastCommand: lastCommand(view.timeline),
  };
}
