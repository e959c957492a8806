import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

export interface ExecutableSource {
  path: string;
  /** How it was found, for progress output and error messages. */
  from: "env" | "path" | "cache";
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Finds a program the way every tool of ours does: the environment variable that names it wins,
 * then PATH, then the cached copy. A variable naming a missing file is an error, not a fallback,
 * because silently using another binary would hide the user's mistake.
 */
export function findExecutable(
  name: string,
  envVar: string,
  cached: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ExecutableSource | undefined {
  const named = env[envVar];
  if (named) {
    const path = isAbsolute(named) ? named : findOnPath(named, env);
    if (!path || !isExecutable(path)) {
      throw new Error(`${envVar}=${named} does not name an executable file`);
    }
    return { path, from: "env" };
  }
  const onPath = findOnPath(name, env);
  if (onPath) return { path: onPath, from: "path" };
  if (cached && isExecutable(cached)) return { path: cached, from: "cache" };
  return undefined;
}
