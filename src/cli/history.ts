/**
 * `history <name>`: the canary's past rollouts, newest first: revision, outcome, start, duration,
 * the highest canary weight reached and the operator commands, read from the histories of the
 * workflow's runs (one run per rollout, as it continues as new after each).
 */
import { workflowId } from "../../workflows/messages.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { formatDuration, formatTime, table } from "./render.ts";
import { fetchRun, type RolloutRecord, type RunRecord, rollouts } from "./runs.ts";
import { type CliTemporal, checkName } from "./temporal.ts";

export interface HistoryOptions {
  readonly limit?: number;
}

/** The canary's last `limit` rollouts, oldest first. */
export async function readRollouts(
  temporal: CliTemporal,
  namespace: string,
  name: string,
  limit: number,
): Promise<RolloutRecord[]> {
  const id = workflowId(namespace, name);
  const runIds: string[] = [];
  // Newest first; one more run than rollouts wanted, for a rollout that began in the run before.
  for await (const run of temporal.client.workflow.list({
    query: `WorkflowId = "${id}"`,
    pageSize: limit + 1,
  })) {
    runIds.push(run.runId);
    if (runIds.length > limit) break;
  }
  if (runIds.length === 0) {
    throw new CliError(
      `canary ${name} not found in namespace ${namespace} (Temporal namespace ${temporal.namespace})`,
    );
  }
  const runs: RunRecord[] = await Promise.all(runIds.reverse().map((runId) => fetchRun(temporal, id, runId)));
  return rollouts(runs).slice(-limit);
}

export function durationOf(rollout: RolloutRecord, now: Date): number {
  return (rollout.end ? new Date(rollout.end) : now).getTime() - new Date(rollout.start).getTime();
}

export async function history(ctx: CliContext, name: string, options: HistoryOptions): Promise<void> {
  const namespace = ctx.namespace();
  checkName("canary name", name);
  const limit = options.limit ?? 10;
  if (!Number.isInteger(limit) || limit < 1) throw new CliError("--limit must be a positive whole number");
  const temporal = await ctx.connect();
  const found = (await readRollouts(temporal, namespace, name, limit)).reverse();
  const now = new Date();
  if (ctx.output === "json") {
    ctx.json({
      namespace,
      name,
      rollouts: found.map((r) => ({ ...r, durationSeconds: Math.round(durationOf(r, now) / 1000) })),
    });
    return;
  }
  if (found.length === 0) {
    ctx.print(`${namespace}/${name}: no rollouts yet\n`);
    return;
  }
  ctx.print(
    table(
      ["REVISION", "OUTCOME", "STARTED", "DURATION", "MAX WEIGHT", "COMMANDS"],
      found.map((r) => [
        r.revision,
        r.outcome === "InProgress" ? `in progress (${r.phase})` : r.outcome,
        formatTime(r.start, now),
        formatDuration(durationOf(r, now)),
        `${r.maxWeight}%`,
        r.commands.map((c) => `${c.command} by ${c.by}${c.reason ? ` (${c.reason})` : ""}`).join("; ") || "-",
      ]),
    ),
  );
}
