import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GateType } from "../../src/api/canary.ts";
import {
  type CommandCheck,
  type CommandName,
  type CommandState,
  checkCommand,
} from "../../workflows/decisions/index.ts";

const progressing: CommandState = {
  phase: "Progressing",
  gate: undefined,
  pausedAtMs: undefined,
  lastFailedRevision: undefined,
};

describe("checkCommand", () => {
  const ok: CommandCheck = { ok: true };
  const no = (reason: string): CommandCheck => ({ ok: false, reason });
  const cases: [string, CommandName, Partial<CommandState>, GateType | undefined, CommandCheck][] = [
    [
      "approve a pending gate",
      "approve",
      { phase: "WaitingPromotion", gate: { type: "confirm-promotion", sinceMs: 0, checkedAtMs: undefined } },
      undefined,
      ok,
    ],
    [
      "approve the named pending gate",
      "approve",
      { phase: "Waiting", gate: { type: "confirm-rollout", sinceMs: 0, checkedAtMs: undefined } },
      "confirm-rollout",
      ok,
    ],
    [
      "approve another gate",
      "approve",
      { phase: "Waiting", gate: { type: "confirm-rollout", sinceMs: 0, checkedAtMs: undefined } },
      "confirm-promotion",
      no("cannot approve confirm-promotion: the pending gate is confirm-rollout"),
    ],
    [
      "approve without a gate",
      "approve",
      {},
      undefined,
      no("nothing to approve: no gate is pending (phase is Progressing)"),
    ],
    ["skip during analysis", "skip", {}, undefined, ok],
    ["skip at the confirm-rollout gate", "skip", { phase: "Waiting" }, undefined, ok],
    [
      "skip after success",
      "skip",
      { phase: "Succeeded" },
      undefined,
      no("nothing to skip: phase is Succeeded"),
    ],
    ["abort during analysis", "abort", { phase: "WaitingPromotion" }, undefined, ok],
    [
      "abort during promotion",
      "abort",
      { phase: "Promoting" },
      undefined,
      no("too late to abort: phase is Promoting and the primary already runs the new revision"),
    ],
    [
      "abort while finalising",
      "abort",
      { phase: "Finalising" },
      undefined,
      no("too late to abort: phase is Finalising and the primary already runs the new revision"),
    ],
    [
      "abort when idle",
      "abort",
      { phase: "Initialized" },
      undefined,
      no("nothing to abort: phase is Initialized"),
    ],
    ["pause during analysis", "pause", {}, undefined, ok],
    ["pause during promotion", "pause", { phase: "Promoting" }, undefined, ok],
    ["pause twice", "pause", { pausedAtMs: 5 }, undefined, no("already paused")],
    [
      "pause when idle",
      "pause",
      { phase: "Succeeded" },
      undefined,
      no("nothing to pause: phase is Succeeded"),
    ],
    ["resume a pause", "resume", { pausedAtMs: 5 }, undefined, ok],
    [
      "resume without a pause",
      "resume",
      {},
      undefined,
      no("nothing to resume: not paused (phase is Progressing)"),
    ],
    ["retry a failure", "retry", { phase: "Failed", lastFailedRevision: "r1" }, undefined, ok],
    [
      "retry without a failed revision",
      "retry",
      { phase: "Failed" },
      undefined,
      no("nothing to retry: no failed revision is known"),
    ],
    [
      "retry during analysis",
      "retry",
      { lastFailedRevision: "r1" },
      undefined,
      no("nothing to retry: phase is Progressing"),
    ],
  ];
  for (const [title, name, overrides, gate, expected] of cases) {
    test(title, () =>
      assert.deepEqual(checkCommand({ ...progressing, ...overrides }, { name, gate }), expected),
    );
  }
});
