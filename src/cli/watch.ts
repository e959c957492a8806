/**
 * `watch <name>`: the status, redrawn on a terminal or one line per change otherwise, until the
 * rollout under way (or, on an idle canary, the next one) ends: exit 0 when it succeeded, 1 when
 * it failed or the canary was deleted.
 */
import type { CliContext } from "./context.ts";
import { renderLine, renderStatus } from "./render.ts";
import type { StatusReport } from "./report.ts";
import { isRolling } from "./runs.ts";
import { StatusReader } from "./status.ts";

export interface WatchOptions {
  readonly intervalMs?: number;
}

const clearScreen = "\x1b[H\x1b[2J";

/** Whether the rollout being watched is over, and how: the exit code, or undefined to go on. */
export function rolloutEnd(first: StatusReport, now: StatusReport, sawRollout: boolean): number | undefined {
  if (now.phase === "Terminating" || now.phase === "Terminated") return 1;
  if (isRolling(now.phase)) return undefined;
  // An idle canary at the start: wait for a rollout to begin (a new revision, a retry) and end.
  const moved = sawRollout || now.revisions.canary !== first.revisions.canary;
  if (!moved && !isRolling(first.phase)) return undefined;
  if (now.phase === "Succeeded") return 0;
  if (now.phase === "Failed") return 1;
  return undefined;
}

export async function watch(ctx: CliContext, name: string, options: WatchOptions = {}): Promise<void> {
  const reader = new StatusReader(ctx, ctx.namespace(), name);
  const tty = process.stdout.isTTY === true && ctx.output === "text";
  const first = await reader.read();
  let sawRollout = isRolling(first.phase);
  let last = "";
  for (let report = first; ; report = await reader.read()) {
    sawRollout ||= isRolling(report.phase);
    const shown = JSON.stringify(report);
    // A terminal is redrawn at every poll, so the gate's "in 5m" stays current.
    if (shown !== last || tty) {
      last = shown;
      const now = new Date();
      if (ctx.output === "json") process.stdout.write(`${JSON.stringify(report)}\n`);
      else if (tty) ctx.print(clearScreen + renderStatus(report, now));
      else ctx.print(renderLine(report, now));
    }
    const end = rolloutEnd(first, report, sawRollout);
    if (end !== undefined) {
      process.exitCode = end;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}
