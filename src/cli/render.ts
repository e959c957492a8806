/**
 * Text for people: the status block (with a traffic bar), the one-line form `watch` prints when
 * its output is not a terminal, tables, times and durations. Pure functions of their inputs and
 * the clock they are given, so tests check them exactly.
 */
import type { StatusReport } from "./report.ts";

const barWidth = 20;

/** "primary 70% ██████████████░░░░░░ 30% canary": the primary's share filled, the canary's shaded. */
export function trafficBar(traffic: StatusReport["traffic"]): string {
  const canaryCells = Math.round((traffic.canary / 100) * barWidth);
  const bar = "█".repeat(barWidth - canaryCells) + "░".repeat(canaryCells);
  return `primary ${traffic.primary}% ${bar} ${traffic.canary}% canary${traffic.mirror ? " (+ mirrored copy)" : ""}`;
}

/** 1h2m, 3m5s, 12s: the two largest units. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const units: [number, string][] = [
    [Math.floor(s / 86_400), "d"],
    [Math.floor((s % 86_400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "m"],
    [s % 60, "s"],
  ];
  const first = units.findIndex(([n]) => n > 0);
  if (first < 0) return "0s";
  return units
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join("");
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Local time of day for today, else the local date and time. */
export function formatTime(iso: string, now: Date): string {
  const t = new Date(iso);
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  return t.toDateString() === now.toDateString()
    ? time
    : `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
}

export function relative(iso: string, now: Date): string {
  const ms = new Date(iso).getTime() - now.getTime();
  return ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`;
}

function checks(report: StatusReport): string {
  const { failed, threshold } = report.checks;
  return threshold === null ? `${failed} failed` : `${failed} of ${threshold} failed checks allowed`;
}

function step(report: StatusReport): string {
  return report.step ? `  step ${report.step.current}/${report.step.total}` : "";
}

/** The full status block of `status` and of `watch` on a terminal. */
export function renderStatus(report: StatusReport, now: Date): string {
  const lines = [
    `${report.namespace}/${report.name}  ${report.phase}${report.paused ? " (paused)" : ""}${step(report)}`,
    `traffic   ${trafficBar(report.traffic)}`,
    `revision  canary ${report.revisions.canary ?? "none"}, primary ${report.revisions.primary ?? "none"}${
      report.revisions.failed ? `, last failed ${report.revisions.failed}` : ""
    }`,
    `checks    ${checks(report)}`,
  ];
  for (const m of report.metrics) lines.push(`metric    [${m.verdict}] ${m.message}`);
  for (const w of report.webhooks) lines.push(`webhook   [${w.verdict}] ${w.name} (${w.type}): ${w.message}`);
  if (report.gate) {
    const deadline = report.gate.deadline
      ? `, rolls back at ${formatTime(report.gate.deadline, now)} (${relative(report.gate.deadline, now)})`
      : ", no deadline";
    lines.push(
      `gate      ${report.gate.name} pending since ${formatTime(report.gate.since, now)}${deadline}`,
    );
  }
  const command = report.lastCommand;
  if (command) {
    const reason = command.reason ? `: ${JSON.stringify(command.reason)}` : "";
    lines.push(
      `command   ${command.command} by ${command.by} at ${formatTime(command.at, now)}${reason} (${command.result})`,
    );
  }
  lines.push(`message   ${report.message}`);
  return `${lines.join("\n")}\n`;
}

/** The one line `watch` prints per change when its output is not a terminal. */
export function renderLine(report: StatusReport, now: Date): string {
  const stepText = report.step ? `, step ${report.step.current}/${report.step.total}` : "";
  const gate = report.gate ? `, waiting at ${report.gate.name}` : "";
  return (
    `${formatTime(now.toISOString(), now)} ${report.phase}${report.paused ? " (paused)" : ""}: ` +
    `${report.traffic.canary}% canary${stepText}, ${checks(report)}${gate} - ${report.message}\n`
  );
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  return `${[header, ...rows].map(line).join("\n")}\n`;
}
