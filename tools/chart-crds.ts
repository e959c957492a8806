/**
 * Copies the CRDs of deploy/crds into the Helm chart (charts/durable-canary/crds), which cannot
 * reach files outside itself. `npm run crds` runs it; test/deploy checks the copies are equal.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { toolsDir } from "./catalog.ts";

export const deployCrdDir = join(toolsDir, "..", "deploy", "crds");
export const chartCrdDir = join(toolsDir, "..", "charts", "durable-canary", "crds");

export function crdFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
}

export function syncChartCrds(): string[] {
  mkdirSync(chartCrdDir, { recursive: true });
  for (const stale of crdFiles(chartCrdDir)) rmSync(join(chartCrdDir, stale));
  const files = crdFiles(deployCrdDir);
  for (const file of files) copyFileSync(join(deployCrdDir, file), join(chartCrdDir, file));
  return files;
}

if (import.meta.main) {
  const files = syncChartCrds();
  process.stdout.write(`copied ${files.join(", ")} into charts/durable-canary/crds\n`);
}
