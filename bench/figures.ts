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
  return treeSum(pid, (p) => kilobytesIn(`/proc/${p}/status`, "VmRSS")) * 1024;
}

/**
 * A process's proportional set in bytes with its descendants': each shared page counted once
 * across the processes sharing it, so the sum over PostgreSQL's backends holds its shared
 * buffers once where the sum of their RSS holds them once per backend that touched them.
 */
export function treePss(pid: number): number {
  return treeSum(pid, (p) => kilobytesIn(`/proc/${p}/smaps_rollup`, "Pss")) * 1024;
}

/** /proc counts CPU time in USER_HZ, 100 a second on Linux whatever the kernel's own tick. */
const userHz = 100;

/**
 * The CPU time in seconds a process and its descendants have used, user and system: the live
 * ones' own, and the exited ones' their parents collected (a PostgreSQL backend that has gone).
 */
export function treeCpuSeconds(pid: number): number {
  return treeSum(pid, cpuTicks) / userHz;
}

function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may hold spaces: utime, stime, cutime, cstime are 14-17.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  } catch {
    return undefined;
  }
}

/** A `Name:  123 kB` figure of a /proc file, in kB; undefined once the process has gone. */
function kilobytesIn(file: string, name: string): number | undefined {
  try {
    return Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(readFileSync(file, "utf8"))?.[1] ?? 0);
  } catch {
    return undefined;
  }
}

/** `measure` summed over a process and its descendants; a process that has gone counts 0. */
function treeSum(pid: number, measure: (pid: number) => number | undefined): number {
  const value = measure(pid);
  if (value === undefined) return 0;
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (list) children = children.concat(list.split(/\s+/).map(Number));
    }
  } catch {
    // It exited while being read: its children are counted as far as they were seen.
  }
  return value + children.reduce((sum, child) => sum + treeSum(child, measure), 0);
}
