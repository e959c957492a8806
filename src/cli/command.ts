/**
 * The operator commands (approve, skip, abort, pause, resume, retry), sent as updates: the
 * workflow's validator accepts or rejects them at once with a reason. `--wait` then polls the
 * status query until the command's effect shows (the gate open, the traffic back on the primary).
 */
import { WorkflowUpdateFailedError } from "@temporalio/client";
import { type Command, type CommandResult, commandUpdates } from "../../workflows/messages.ts";
import { GATE_TYPES, type GateType } from "../api/canary.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { formatDuration } from "./render.ts";
import type { StatusReport } from "./report.ts";
import { StatusReader } from "./status.ts";
import { canaryHandle, onCanary } from "./temporal.ts";

export interface CommandOptions {
  readonly by?: string;
  readonly reason?: string;
  readonly gate?: string;
  readonly wait?: boolean;
  /** How long --wait waits, in seconds. */
  readonly timeout?: number;
}

/** When a command's effect shows in the status: its condition and, while it does not, what is awaited. */
export function effectShown(command: Command, status: StatusReport, gate: GateType | undefined): boolean {
  switch (command) {
    case "approve":
      return status.gate === null || (gate !== undefined && status.gate.name !== gate);
    case "skip":
      // The promotion is done: every user on the primary, which runs the new revision.
      return status.phase === "Succeeded" || status.phase === "Failed";
    case "abort":
      return status.phase === "Failed" && status.traffic.canary === 0 && !status.traffic.mirror;
    case "pause":
      return status.paused;
    case "resume":
      return !status.paused;
    case "retry":
      return status.phase !== "Failed";
  }
}

function checkGate(gate: string | undefined): GateType | undefined {
  if (gate === undefined) return undefined;
  if (!(GATE_TYPES as readonly string[]).includes(gate)) {
    throw new CliError(`unknown gate ${gate}: use one of ${GATE_TYPES.join(", ")}`);
  }
  return gate as GateType;
}

/** Sends the update; a queued answer (the canary is busy) is not a rejection. */
async function send(
  ctx: CliContext,
  command: Command,
  namespace: string,
  name: string,
  input: { by: string; reason: string; gate?: GateType },
): Promise<{ result: CommandResult } | { queued: string }> {
  const temporal = await ctx.connect();
  const handle = canaryHandle(temporal, namespace, name);
  try {
    const result = await onCanary(temporal, namespace, name, () =>
      handle.executeUpdate(commandUpdates[command], { args: [input] }),
    );
    return { result };
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const cause = err.cause as { message?: string; type?: string } | undefined;
    if (cause?.type === "CommandPending") return { queued: cause.message ?? "queued" };
    throw new CliError(`${command} rejected: ${cause?.message ?? err.message}`);
  }
}

export async function runCommand(
  ctx: CliContext,
  command: Command,
  name: string,
  options: CommandOptions,
): Promise<void> {
  const namespace = ctx.namespace();
  const reader = new StatusReader(ctx, namespace, name);
  const gate = command === "approve" ? checkGate(options.gate) : undefined;
  const input = { by: ctx.by(options.by), reason: options.reason ?? "", ...(gate ? { gate } : {}) };
  const answer = await send(ctx, command, namespace, name, input);
  ctx.print("result" in answer ? `${answer.result.message}\n` : `${answer.queued}\n`);
  if (!options.wait) return;
  const timeoutMs = (options.timeout ?? 120) * 1000;
  const started = Date.now();
  for (;;) {
    const status = await reader.read();
    if (effectShown(command, status, gate)) {
      const traffic = `${status.traffic.primary}% primary, ${status.traffic.canary}% canary`;
      ctx.print(`done: ${status.phase}${status.paused ? " (paused)" : ""}, traffic ${traffic}\n`);
      // A skipped analysis whose promotion failed rolled back: the command did not get its way.
      if (command === "skip" && status.phase === "Failed")
        throw new CliError(`rolled back: ${status.message}`);
      return;
    }
    if (Date.now() - started > timeoutMs) {
      throw new CliError(
        `timed out after ${formatDuration(timeoutMs)} waiting for ${command} to show: phase ${status.phase}, ` +
          `${status.traffic.canary}% canary: ${status.message}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
