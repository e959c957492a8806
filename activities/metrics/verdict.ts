/**
 * A metric value against its threshold range, explained with numbers: "request-success-rate
 * 93.10% < 99%", "request-duration 512.30ms > 500ms", "error-ratio 0.0123 within [0, 0.05]".
 */
import type { ThresholdRange } from "../../src/api/canary.ts";
import type { Verdict } from "../../workflows/activity-port.ts";

export interface Judgement {
  readonly verdict: Extract<Verdict, "pass" | "fail">;
  readonly message: string;
}

export function judgeValue(name: string, value: number, range: ThresholdRange, unit = ""): Judgement {
  const shown = `${name} ${formatValue(value)}${unit}`;
  const { min, max } = range;
  if (min !== undefined && value < min) return { verdict: "fail", message: `${shown} < ${min}${unit}` };
  if (max !== undefined && value > max) return { verdict: "fail", message: `${shown} > ${max}${unit}` };
  if (min !== undefined && max !== undefined) {
    return { verdict: "pass", message: `${shown} within [${min}${unit}, ${max}${unit}]` };
  }
  if (min !== undefined) return { verdict: "pass", message: `${shown} >= ${min}${unit}` };
  if (max !== undefined) return { verdict: "pass", message: `${shown} <= ${max}${unit}` };
  return { verdict: "pass", message: `${shown} (no threshold set)` };
}

/** Two decimals, except below 1 where three significant digits keep small ratios readable. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude >= 1 || magnitude === 0 ? value.toFixed(2) : String(Number(value.toPrecision(3)));
}
