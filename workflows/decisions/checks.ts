/**
 * Analysis verdicts: the outcome of one analysis run, and the failed-checks threshold that
 * triggers a rollback. Metric values are judged against their thresholds by the metric
 * activities, which know the units; this module only combines their verdicts.
 */
import type { MetricResult, WebhookResult } from "../activity-port.ts";

export interface RunVerdict {
  readonly passed: boolean;
  /** Every failure, e.g. "request-success-rate 93.10% < 99%; webhook load-test: 500 Internal Server Error". */
  readonly message: string;
}

/** A metric's message already names it and gives its value and threshold; webhooks get their name prefixed. */
export function summarizeChecks(
  metrics: readonly Pick<MetricResult, "verdict" | "message">[],
  webhooks: readonly Pick<WebhookResult, "name" | "verdict" | "message">[],
): RunVerdict {
  const failures = [
    ...webhooks.filter((w) => w.verdict !== "pass").map((w) => `webhook ${w.name}: ${w.message}`),
    ...metrics.filter((m) => m.verdict !== "pass").map((m) => m.message),
  ];
  return failures.length === 0
    ? { passed: true, message: `all ${metrics.length + webhooks.length} checks passed` }
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
