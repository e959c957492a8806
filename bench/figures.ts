/** What the benchmarks print, and the statistics they print. */
import { readdirSync, readFileSync } from "node:fs";

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The p-th percentile (nearest rank) of values sorted ascending; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** The median; NaN when there are no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Bytes as whole MiB, as the figures print memory. */
export function megabytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** A process's resident set in bytes with its descendants', from /proc; 0 once it has gone. */
export function treeRss(pid: number): number {
  let kilobytes = 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    kilobytes = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (list) children = children.concat(list.split(/\s+/).map(Number));
    }
  } catch {
    // It exited while being read: its children are counted as far as they were seen.
  }
  return kilobytes * 1024 + children.reduce((sum, child) => sum + treeRss(child), 0);
}
