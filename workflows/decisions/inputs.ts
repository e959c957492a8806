/**
 * Checks of what arrives from outside the workflow. Signals carry no validator: anyone with access
 * to the Temporal namespace can send any payload, so the workflow checks each one, drops a
 * malformed one with a reason, and never lets it throw inside the workflow.
 */

import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { GATE_TYPES, type GateType } from "../../src/api/gates.ts";

/** Longest `by` kept: a user or service-account name. */
export const MAX_BY_LENGTH = 128;
/** Longest `reason` kept: a sentence or two, not a document in every status. */
export const MAX_REASON_LENGTH = 512;
/** Longest revision kept: the controller's are 16 hex characters. */
const MAX_REVISION_LENGTH = 128;

export type InputCheck<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

export interface CheckedCommandInput {
  readonly by: string;
  readonly reason: string;
  readonly gate: GateType | undefined;
}

export interface CheckedRevision {
  readonly revision: string;
  readonly spec: ResolvedCanarySpec;
  readonly generation: number;
  readonly resyncStatus: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Cuts a text to `max` characters, saying so. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A command's input: `by` is required; `reason` and `gate` are optional; long texts are cut. */
export function checkCommandInput(input: unknown): InputCheck<CheckedCommandInput> {
  if (!isRecord(input)) return { ok: false, reason: "the input must be an object with by and reason" };
  const { by, reason, gate } = input;
  if (typeof by !== "string" || by.trim() === "") {
    return { ok: false, reason: 'needs "by": who sends the command' };
  }
  if (reason !== undefined && reason !== null && typeof reason !== "string") {
    return { ok: false, reason: '"reason" must be a string' };
  }
  if (gate !== undefined && gate !== null && !(GATE_TYPES as readonly unknown[]).includes(gate)) {
    return { ok: false, reason: `"gate" must be one of ${GATE_TYPES.join(", ")}` };
  }
  return {
    ok: true,
    value: {
      by: truncate(by.trim(), MAX_BY_LENGTH),
      reason: truncate(typeof reason === "string" ? reason : "", MAX_REASON_LENGTH),
      gate: (gate ?? undefined) as GateType | undefined,
    },
  };
}

/**
 * A revision message as the controller sends it. The spec was validated by the controller; this
 * only makes sure it has the shape the workflow reads, so a hand-made signal cannot crash it.
 */
export function checkRevisionMessage(input: unknown): InputCheck<CheckedRevision> {
  if (!isRecord(input)) return { ok: false, reason: "the message must be an object" };
  const { revision, spec, generation, resyncStatus } = input;
  if (typeof revision !== "string" || revision === "" || revision.length > MAX_REVISION_LENGTH) {
    return {
      ok: false,
      reason: `"revision" must be a non-empty string of at most ${MAX_REVISION_LENGTH} characters`,
    };
  }
  if (typeof generation !== "number" || !Number.isSafeInteger(generation) || generation < 0) {
    return { ok: false, reason: '"generation" must be a whole number' };
  }
  const problem = specProblem(spec);
  if (problem) return { ok: false, reason: problem };
  return {
    ok: true,
    value: { revision, spec: spec as ResolvedCanarySpec, generation, resyncStatus: resyncStatus === true },
  };
}

function specProblem(spec: unknown): string | undefined {
  if (!isRecord(spec)) return '"spec" is missing: a revision needs the resolved spec';
  const targetRef = spec.targetRef;
  if (!isRecord(targetRef) || typeof targetRef.name !== "string" || typeof targetRef.kind !== "string") {
    return '"spec.targetRef" must name the target';
  }
  if (typeof spec.provider !== "string") return '"spec.provider" must be a string';
  if (!isRecord(spec.strategy) || typeof spec.strategy.kind !== "string") return '"spec.strategy" is missing';
  const analysis = spec.analysis;
  if (!isRecord(analysis)) return '"spec.analysis" is missing';
  const interval = analysis.intervalMs;
  if (typeof interval !== "number" || !Number.isFinite(interval) || interval <= 0) {
    return '"spec.analysis.intervalMs" must be a positive number';
  }
  for (const key of ["metrics", "webhooks", "stepWeights", "match", "alerts"] as const) {
    if (!Array.isArray(analysis[key])) return `"spec.analysis.${key}" must be a list`;
  }
  for (const key of [
    "threshold",
    "maxWeight",
    "iterations",
    "primaryReadyThreshold",
    "canaryReadyThreshold",
  ] as const) {
    if (typeof analysis[key] !== "number") return `"spec.analysis.${key}" must be a number`;
  }
  if (typeof spec.progressDeadlineSeconds !== "number")
    return '"spec.progressDeadlineSeconds" must be a number';
  return undefined;
}
