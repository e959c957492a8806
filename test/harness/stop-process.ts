/**
 * Stopping one supervised process and waiting for it, for components that restart a single
 * process of theirs (the Supervisor stops them all only at teardown).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { killGroup, type ManagedProcess } from "./process.ts";

/** Whether the process exited within `timeoutMs`. */
export async function waitForExit(proc: ManagedProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (proc.exit === undefined && Date.now() < deadline) await sleep(50);
  return proc.exit !== undefined;
}

/** Signals a process's group and waits for it to exit; SIGKILL once it outstays `timeoutMs`. */
export async function stopProcess(
  proc: ManagedProcess,
  signal: NodeJS.Signals,
  timeoutMs = 30_000,
): Promise<void> {
  if (proc.exit !== undefined) return;
  killGroup(proc.pid, signal);
  if (!(await waitForExit(proc, timeoutMs))) {
    killGroup(proc.pid, "SIGKILL");
    await waitForExit(proc, timeoutMs);
  }
}
