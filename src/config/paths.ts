import { homedir } from "node:os";
import { join } from "node:path";

/** Where downloaded or built tools live, shared by every checkout on the machine. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DURABLE_CANARY_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "durable-canary");
}

/** Where the product keeps durable local state (the embedded Temporal database). */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.DURABLE_CANARY_STATE ??
    join(env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "durable-canary")
  );
}
