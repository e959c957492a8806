/**
 * Analysis verdicts: a metric value against its threshold range, the outcome of one analysis
 * run, and the failed-checks threshold that triggers a rollback.
 */
import type { ThresholdRange } from "../../src/api/canary.ts";

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** A missing or non-numeric value fails: no data means the canary cannot be judged healthy. */
export function checkThresholdRange(value: number | undefined, range: ThresholdRange): Verdict {
  if (value === undefined || Number.isNaN(value))
    return { ok: false, reason: "no value (is the canary receiving traffic?)" };
  if (range.min !== undefined && value < range.min)
    return { ok: false, reason: `${value} is below the minimum ${range.min}` };
  if (range.max !== undefined && value > range.max)
    return { ok: false, reason: `${value} is above the maximum ${range.max}` };
  return { ok: true };
}

/** One check of an analysis run: a metric or a rollout webhook. */
export interface CheckResult {
  readonly kind: "metric" | "webhook";
  readonly name: string;
  readonly verdict: Verdict;
}

export interface RunVerdict {
  readonly passed: boolean;
  /** Every failure, e.g. "metric request-success-rate: 97 is below the minimum 99". */
  readonly message: string;
}

export function summarizeChecks(results: readonly CheckResult[]): RunVerdict {
  const failures = results.flatMap((result) =>
    result.verdict.ok ? [] : [`${result.kind} ${result.name}: ${result.verdict.reason}`],
  );
  return failures.length === 0
    ? { passed: true, message: `all ${results.length} checks passed` }
    : { passed: false, message: failures.join("; ") };
}

/** Counts one failed check; the rollout rolls back once failedChecks reaches the threshold. */
export function recordFailedCheck(
  failedChecks: number,
  threshold: number,
): {
  readonly failedChecks: number;
  readonly thresholdReached: boolean;
} {
  const next = failedChecks + 1;
  return { failedChecks: next, thresholdReached: next >= threshold };
}
