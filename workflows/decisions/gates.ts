/**
 * Gates: confirm-rollout, confirm-traffic-increase and confirm-promotion webhooks hold the
 * rollout until all of them answer 2xx or an operator approves. durable-canary adds an optional
 * timeout after which a closed gate rolls the rollout back instead of waiting forever.
 */
import type { GateType } from "../../src/api/canary.ts";
import type { ResolvedAnalysis } from "../../src/api/defaults.ts";

export type GateSettings = Pick<ResolvedAnalysis, "webhooks" | "gateTimeoutMs">;

/** A gate the rollout is held at (workflow times). */
export interface PendingGate {
  readonly type: GateType;
  /** When the wait started; the gate timeout counts from here. */
  readonly sinceMs: number;
  /** When the gate last answered closed; undefined until its first check. */
  readonly checkedAtMs: number | undefined;
}

export type GateOutcome = "open" | "closed" | "timeout";

/** Whether the spec configures this gate at all; without webhooks of its type there is no gate. */
export function hasGate(settings: Pick<GateSettings, "webhooks">, gate: GateType): boolean {
  return settings.webhooks.some((webhook) => webhook.type === gate);
}

/**
 * How long this gate may stay closed: the shortest `gateTimeout` among its webhooks, else
 * `analysis.gateTimeout`, else undefined (wait forever, as Flagger does).
 */
export function gateTimeoutMs(settings: GateSettings, gate: GateType): number | undefined {
  const own = settings.webhooks
    .filter((webhook) => webhook.type === gate && webhook.gateTimeoutMs !== undefined)
    .map((webhook) => webhook.gateTimeoutMs as number);
  return own.length > 0 ? Math.min(...own) : settings.gateTimeoutMs;
}

/** A waiting gate alerts unless every one of its webhooks mutes alerts. */
export function gateAlertMuted(settings: Pick<GateSettings, "webhooks">, gate: GateType): boolean {
  const webhooks = settings.webhooks.filter((webhook) => webhook.type === gate);
  return webhooks.length > 0 && webhooks.every((webhook) => webhook.muteAlert);
}

/** When a pending gate times out (workflow time), or undefined if it waits forever. */
export function gateDeadlineMs(gate: PendingGate, timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined ? undefined : gate.sinceMs + timeoutMs;
}

export interface GateObservation {
  /** Every webhook of the gate answered 2xx. */
  readonly webhooksPassed: boolean;
  /** An operator approved this gate. */
  readonly approved: boolean;
  /** When the gate started waiting; undefined on its first evaluation. */
  readonly sinceMs: number | undefined;
  readonly nowMs: number;
  readonly timeoutMs: number | undefined;
}

/** Open beats timeout: an answer that arrived is honoured even at the deadline. */
export function evaluateGate(observation: GateObservation): GateOutcome {
  if (observation.webhooksPassed || observation.approved) return "open";
  const { sinceMs, timeoutMs, nowMs } = observation;
  if (sinceMs !== undefined && timeoutMs !== undefined && nowMs >= sinceMs + timeoutMs) return "timeout";
  return "closed";
}
