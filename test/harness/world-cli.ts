/**
 * The test world for people: `npm run world:up` starts it and leaves it running, `npm run
 * world:down` stops it; `up` on a running world installs the routing CRDs added since. State
 * lives in .world/ at the repository root (world.env, logs, data). `npm run world:up -- --temporal
 * cluster` runs Temporal as a multi-service cluster on PostgreSQL instead of the dev server.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { installCrds, routingCrdFiles } from "./crds.ts";
import { isAlive, stopGroups } from "./process.ts";
import { startWorld, type TemporalKind, type WorldInfo } from "./world.ts";

// Absolute, because components run with their own working directories.
const dir = resolve(
  process.env.DC_WORLD_DIR ?? join(dirname(fileURLToPath(import.meta.url)), "../../.world"),
);
const pidFile = join(dir, "pids.json");

function runningPids(): number[] {
  if (!existsSync(pidFile)) return [];
  return (JSON.parse(readFileSync(pidFile, "utf8")) as { pid: number }[]).map((e) => e.pid).filter(isAlive);
}

function describeTemporal(info: WorldInfo): string[] {
  const cluster = info.temporalCluster;
  if (!cluster)
    return [`Temporal:        ${info.temporalAddress} (namespace ${info.temporalNamespace}, dev server)`];
  return [
    `Temporal:        ${info.temporalAddress} (namespace ${info.temporalNamespace}, cluster: frontend, history, matching, worker)`,
    `PostgreSQL:      127.0.0.1:${cluster.postgresPort} (databases temporal, temporal_visibility; user postgres)`,
  ];
}

function describe(info: WorldInfo): string {
  return [
    `kubeconfig:      ${info.kubeconfig}   (kubectl --kubeconfig ${info.kubeconfig} get nodes)`,
    `operator kubeconfig (service account, not admin): ${info.operatorKubeconfig}`,
    ...describeTemporal(info),
    `Temporal UI:     ${info.temporalUiUrl}`,
    `Prometheus:      ${info.prometheusUrl}`,
    `environment:     source ${join(info.dir, "world.env")}`,
    `logs:            ${info.dir}/*.log`,
  ].join("\n");
}

async function up(temporal: TemporalKind): Promise<void> {
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
  const { info } = await startWorld(dir, { detached: true, temporal });
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

const usage = "usage: node test/harness/world-cli.ts up [--temporal dev-server|cluster] | down";
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { temporal: { type: "string", default: "dev-server" } },
});
const [command] = positionals;
if (values.temporal !== "dev-server" && values.temporal !== "cluster") {
  console.error(`--temporal ${values.temporal}: expected dev-server or cluster\n${usage}`);
  process.exitCode = 2;
} else if (command === "up") await up(values.temporal);
else if (command === "down") await down();
else {
  console.error(usage);
  process.exitCode = 2;
}
// Open HTTP connections to the world must not keep this command alive after `up`.
process.exit();
