/**
 * Operator commands and whether the canary's state accepts them; the reason of a rejection is
 * what an update validator returns to the CLI ("nothing to skip: phase is Succeeded").
 */
import type { CanaryPhase, GateType } from "../../src/api/canary.ts";
import type { PendingGate } from "./gates.ts";
import { isBeforePromotion } from "./phases.ts";

export const COMMAND_NAMES = ["approve", "skip", "abort", "pause", "resume", "retry"] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface Command {
  readonly name: CommandName;
  /** Who sent it, as the CLI identifies the user. */
  readonly by: string;
  readonly reason: string;
  /** For approve: the gate meant, so a stale approval cannot open a later gate. */
  readonly gate?: GateType | undefined;
}

export interface CommandState {
  readonly phase: CanaryPhase;
  readonly gate: PendingGate | undefined;
  readonly pausedAtMs: number | undefined;
  readonly lastFailedRevision: string | undefined;
}

export type CommandCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const accept: CommandCheck = { ok: true };
const reject = (reason: string): CommandCheck => ({ ok: false, reason });

export function checkCommand(state: CommandState, command: Pick<Command, "name" | "gate">): CommandCheck {
  const { phase } = state;
  switch (command.name) {
    case "approve":
      if (state.gate === undefined)
        return reject(`nothing to approve: no gate is pending (phase is ${phase})`);
      if (command.gate !== undefined && command.gate !== state.gate.type) {
        return reject(`cannot approve ${command.gate}: the pending gate is ${state.gate.type}`);
      }
      return accept;
    case "skip":
      return isBeforePromotion(phase) ? accept : reject(`nothing to skip: phase is ${phase}`);
    case "abort":
      if (isBeforePromotion(phase)) return accept;
      if (phase === "Promoting" || phase === "Finalising") {
        return reject(`too late to abort: phase is ${phase} and the primary already runs the new revision`);
      }
      return reject(`nothing to abort: phase is ${phase}`);
    case "pause":
      if (state.pausedAtMs !== undefined) return reject("already paused");
      return isBeforePromotion(phase) || phase === "Promoting"
        ? accept
        : reject(`nothing to pause: phase is ${phase}`);
    case "resume":
      return state.pausedAtMs === undefined
        ? reject(`nothing to resume: not paused (phase is ${phase})`)
        : accept;
    case "retry":
      if (phase !== "Failed") return reject(`nothing to retry: phase is ${phase}`);
      return state.lastFailedRevision === undefined
        ? reject("nothing to retry: no failed revision is known")
        : accept;
  }
}
