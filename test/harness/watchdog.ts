/**
 * Guarantees teardown when the test runner dies without cleaning up (SIGKILL, OOM): it watches
 * the runner's PID and, once that is gone, stops every process group listed in the PID file.
 * Usage: node watchdog.ts <runner-pid> <pid-file>. It exits by itself when the PID file is removed
 * (the runner tore the world down normally).
 */
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isAlive, stopGroups } from "./process.ts";

const [runner, pidFile] = [Number(process.argv[2]), process.argv[3] ?? ""];

while (isAlive(runner) && existsSync(pidFile)) await sleep(500);
if (existsSync(pidFile)) {
  const entries = JSON.parse(readFileSync(pidFile, "utf8")) as { pid: number }[];
  await stopGroups(entries.map((e) => e.pid).reverse(), 5000);
}
