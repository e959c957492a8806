/**
 * The test world for people: `npm run world:up` starts it and leaves it running, `npm run
 * world:down` stops it; `up` on a running world installs the routing CRDs added since. State
 * lives in .world/ at the repository root (world.env, logs, data).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { installCrds, routingCrdFiles } from "./crds.ts";
import { isAlive, stopGroups } from "./process.ts";
import { startWorld, type WorldInfo } from "./world.ts";

// Absolute, because components run with their own working directories.
const dir = resolve(
  process.env.DC_WORLD_DIR ?? join(dirname(fileURLToPath(import.meta.url)), "../../.world"),
);
const pidFile = join(dir, "pids.json");

function runningPids(): number[] {
  if (!existsSync(pidFile)) return [];
  return (JSON.parse(readFileSync(pidFile, "utf8")) as { pid: number }[]).map((e) => e.pid).filter(isAlive);
}

function describe(info: WorldInfo): string {
  return [
    `kubeconfig:      ${info.kubeconfig}   (kubectl --kubeconfig ${info.kubeconfig} get nodes)`,
    `operator kubeconfig (service account, not admin): ${info.operatorKubeconfig}`,
    `Temporal:        ${info.temporalAddress} (namespace ${info.temporalNamespace})`,
    `Temporal UI:     ${info.temporalUiUrl}`,
    `Prometheus:      ${info.prometheusUrl}`,
    `environment:     source ${join(info.dir, "world.env")}`,
    `logs:            ${info.dir}/*.log`,
  ].join("\n");
}

async function up(): Promise<void> {
  if (runningPids().length > 0) {
    const info = JSON.parse(readFileSync(join(dir, "world.json"), "utf8")) as WorldInfo;
    // CRDs added to test/data/crds since the world started are installed now.
    const crds = await installCrds(info.kubeconfig, routingCrdFiles);
    console.log(
      `The test world is already running (${crds.length} routing CRDs installed).\n${describe(info)}\nStop it with: npm run world:down`,
    );
    return;
  }
  rmSync(dir, { recursive: true, force: true });
  const { info } = await startWorld(dir, { detached: true });
  console.log(`The test world is running.\n${describe(info)}\nStop it with: npm run world:down`);
}

async function down(): Promise<void> {
  const pids = runningPids();
  if (pids.length === 0) {
    console.log("No test world is running.");
  } else {
    await stopGroups(pids.reverse());
    console.log(`Stopped the test world (${pids.length} processes).`);
  }
  rmSync(pidFile, { force: true });
}

const command = process.argv[2];
if (command === "up") await up();
else if (command === "down") await down();
else {
  console.error("usage: node test/harness/world-cli.ts up|down");
  process.exitCode = 2;
}
// Open HTTP connections to the world must not keep this command alive after `up`.
process.exit();
