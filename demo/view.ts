/**
 * What the demo prints about a rollout: one line per change of a Canary's status (phase, the
 * canary's share of traffic as a bar, failed checks, each metric's last value), the reason a
 * rollout failed, and the Temporal UI link of a canary's workflow.
 */
import { BUILTIN_UNITS } from "../activities/metrics/builtin.ts";
import type { CanaryStatus } from "../src/api/canary.ts";

/** The canary's share of traffic: `width` cells, one filled per (100 / width) percent. */
export function weightBar(weight: number, width = 20): string {
  const filled = Math.round((Math.min(100, Math.max(0, weight)) / 100) * width);
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

const units: Readonly<Record<string, string>> = BUILTIN_UNITS;

function metric(entry: NonNullable<CanaryStatus["lastAnalysis"]>[number]): string {
  const mark = entry.verdict === "pass" ? "✓" : "✗";
  if (entry.value === undefined) return `${entry.name} ? ${mark}`;
  const value = Number.isInteger(entry.value) ? String(entry.value) : entry.value.toFixed(2);
  return `${entry.name} ${value}${units[entry.name] ?? ""} ${mark}`;
}

/**
 * A status as the live view shows it, without the time: a new line is printed when this changes.
 * The metrics are the last analysis' while the canary has traffic, and a failed rollout's.
 */
export function progressText(status: CanaryStatus, threshold: number): string {
  const weight = status.canaryWeight ?? 0;
  const parts = [
    (status.phase ?? "(new)").padEnd(16),
    weightBar(weight),
    `${String(weight).padStart(3)}% canary`,
    `failed checks ${status.failedChecks ?? 0}/${threshold}`,
  ];
  // Earlier, the last analysis is the previous rollout's; after a success it is past.
  if ((status.phase === "Progressing" && weight > 0) || status.phase === "Failed") {
    parts.push(...(status.lastAnalysis ?? []).map(metric));
  }
  return parts.join("  ");
}

/** One line of the live view. */
export function progressLine(text: string, at: Date): string {
  return `${at.toTimeString().slice(0, 8)}  ${text}`;
}

/** Why a rollout ended as it did, in the Canary's own words (its Promoted condition). */
export function outcomeMessage(status: CanaryStatus): string | undefined {
  return status.conditions?.find((c) => c.type === "Promoted")?.message;
}

/** The Temporal UI page of a workflow; the UI opens its latest run. */
export function temporalUiLink(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl.replace(/\/+$/, "")}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
