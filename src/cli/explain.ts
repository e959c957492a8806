/**
 * `explain <name>`: why the last rollout ended as it did (or where the one under way stands), in a
 * few lines with the numbers: the failing metric and its threshold, the step and weight reached,
 * the failed checks of the threshold, who commanded what, and when it ended.
 */
import type { CliContext } from "./context.ts";
import { readRollouts } from "./history.ts";
import { stepAtWeight } from "./progress.ts";
import { formatDuration, formatTime } from "./render.ts";
import type { StatusReport } from "./report.ts";
import type { RolloutRecord } from "./runs.ts";
import { StatusReader } from "./status.ts";

export interface Explanation {
  readonly namespace: string;
  readonly name: string;
  /** Null when the canary has had no rollout yet. */
  readonly rollout: (RolloutRecord & { readonly step: { current: number; total: number } | null }) | null;
  readonly checks: StatusReport["checks"];
  /** The failing checks' own words, with their numbers. */
  readonly failing: readonly string[];
  readonly lines: readonly string[];
}

function failing(report: StatusReport): string[] {
  return [
    ...report.metrics.filter((m) => m.verdict !== "pass").map((m) => m.message),
    ...report.webhooks
      .filter((w) => w.verdict !== "pass")
      .map((w) => `webhook ${w.name} (${w.type}): ${w.message}`),
  ];
}

export function explanation(
  report: StatusReport,
  rollout: RolloutRecord | undefined,
  spec: Parameters<typeof stepAtWeight>[0] | undefined,
  now: Date,
): Explanation {
  const { namespace, name, checks } = report;
  const failures = failing(report);
  const base = { namespace, name, checks, failing: failures };
  if (!rollout) {
    return {
      ...base,
      rollout: null,
      lines: [`${namespace}/${name} has had no rollout yet: ${report.message}`],
    };
  }
  const step = report.step ?? (spec ? (stepAtWeight(spec, rollout.maxWeight) ?? null) : null);
  const at = `${step ? `step ${step.current}/${step.total} ` : ""}(${rollout.maxWeight}%)`;
  const checked =
    checks.threshold === null
      ? `${checks.failed} failed checks`
      : `${checks.failed} of ${checks.threshold} failed checks`;
  const took = formatDuration(
    (rollout.end ? new Date(rollout.end) : now).getTime() - new Date(rollout.start).getTime(),
  );
  const commands = rollout.commands.map(
    (c) =>
      `${c.command} by ${c.by} at ${formatTime(c.at, now)}${c.reason ? `: ${JSON.stringify(c.reason)}` : ""}`,
  );
  const lines: string[] = [];
  const ended = rollout.end ? formatTime(rollout.end, now) : "";
  switch (rollout.outcome) {
    case "Failed": {
      const aborted = rollout.commands.findLast((c) => c.command === "abort");
      const cause = aborted
        ? `aborted by ${aborted.by}${aborted.reason ? ` (${JSON.stringify(aborted.reason)})` : ""}`
        : failures.length > 0
          ? failures.join("; ")
          : report.message;
      lines.push(`revision ${rollout.revision} failed after ${took}`);
      lines.push(`${cause} at ${at}, ${checked}; rolled back at ${ended}`);
      break;
    }
    case "Succeeded":
      lines.push(`revision ${rollout.revision} was promoted at ${ended} after ${took}`);
      lines.push(`it reached ${at} with ${checked}`);
      break;
    case "Superseded":
      lines.push(`revision ${rollout.revision} was replaced by a newer revision at ${ended}, at ${at}`);
      break;
    case "Deleted":
      lines.push(
        `the canary was deleted at ${ended} during the rollout of revision ${rollout.revision}, at ${at}`,
      );
      break;
    case "InProgress":
      lines.push(
        `revision ${rollout.revision} is rolling out for ${took}: ${rollout.phase}${report.paused ? " (paused)" : ""} at ${at}, ${checked}`,
      );
      if (failures.length > 0) lines.push(`failing now: ${failures.join("; ")}`);
      lines.push(report.message);
      break;
  }
  if (commands.length > 0) lines.push(`commands: ${commands.join("; ")}`);
  lines.push(
    `now: ${report.traffic.primary}% primary (revision ${report.revisions.primary ?? "none"}), ${report.traffic.canary}% canary`,
  );
  return { ...base, rollout: { ...rollout, step }, lines };
}

export async function explain(ctx: CliContext, name: string): Promise<void> {
  const namespace = ctx.namespace();
  const reader = new StatusReader(ctx, namespace, name);
  const report = await reader.read();
  const temporal = await ctx.connect();
  const [rollout] = (await readRollouts(temporal, namespace, name, 1)).slice(-1);
  const result = explanation(report, rollout, reader.specInForce(), new Date());
  if (ctx.output === "json") ctx.json(result);
  else ctx.print(`${result.lines.join("\n")}\n`);
}
