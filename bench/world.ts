/**
 * The test world for a benchmark: the running one named by DC_WORLD_DIR (`npm run world:up`), or
 * a fresh one that `close()` stops. Its addresses are put in this process's environment, where
 * the test helpers look for them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startWatchdog } from "../test/harness/process.ts";
import { startWorld, type WorldInfo, worldEnvVars } from "../test/harness/world.ts";

export interface BenchWorld {
  readonly info: WorldInfo;
  /** Whether the world was started for this benchmark (and is stopped by close). */
  readonly own: boolean;
  close(): Promise<void>;
}

export async function openBenchWorld(name: string, log: (line: string) => void): Promise<BenchWorld> {
  const reuse = process.env.DC_WORLD_DIR && resolve(process.env.DC_WORLD_DIR);
  if (reuse && existsSync(join(reuse, "world.json"))) {
    const info = JSON.parse(readFileSync(join(reuse, "world.json"), "utf8")) as WorldInfo;
    log(`using the running test world in ${reuse}`);
    Object.assign(process.env, worldEnvVars(info));
    return { info, own: false, close: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), `durable-canary-bench-${name}-`));
  log(`starting a test world in ${dir}`);
  const { info, supervisor } = await startWorld(dir);
  startWatchdog(supervisor.pidFile);
  Object.assign(process.env, worldEnvVars(info));
  return {
    info,
    own: true,
    close: async () => {
      await supervisor.stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
