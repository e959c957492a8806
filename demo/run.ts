/**
 * `npm run demo`: durable-canary at work on a local test world, in one command. It starts the
 * world (Kubernetes API server with simulated nodes, Temporal, Prometheus; its tools are built on
 * first use), the operator as its own process and a simulated mesh that sends traffic to the
 * sample app; then it rolls out a healthy version, and one whose error rate rises and that is
 * rolled back, showing each rollout live. Everything stays up until Ctrl-C, then is stopped.
 *
 * With DC_WORLD_DIR naming a running test world (`npm run world:up`), it uses that world and
 * leaves it running. `--exit-when-done` stops after the second rollout (for tests and scripts):
 * exit code 0 when the first rollout succeeded and the second was rolled back.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type AppHandle, type MeshSimulator, startMeshSimulator } from "../test/harness/mesh-simulator.ts";
import { isAlive, Supervisor, startWatchdog, stopGroups } from "../test/harness/process.ts";
import { waitForTargetUp } from "../test/harness/prometheus.ts";
import { startWorld, type WorldInfo } from "../test/harness/world.ts";
import { installMissingTools, resolveBinary } from "../tools/catalog.ts";
import { workflowId } from "../workflows/messages.ts";
import {
  APP,
  adminClient,
  canaryCommand,
  cliEnv,
  deployApp,
  followCanary,
  operatorReady,
  primaryVersion,
  removeApp,
  rollOut,
  startOperator,
} from "./app.ts";
import { outcomeMessage, temporalUiLink } from "./view.ts";

const { values: flags } = parseArgs({
  options: { "exit-when-done": { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
});
if (flags.help) {
  process.stdout.write(
    "usage: npm run demo [-- --exit-when-done]\n" +
      "  Starts a local test world, the operator and a sample app, and shows two rollouts:\n" +
      "  one that succeeds and one that is rolled back. Ctrl-C stops everything.\n" +
      "  DC_WORLD_DIR=<dir>   use the test world running there (npm run world:up) and leave it up\n" +
      "  --exit-when-done     stop after the second rollout instead of waiting for Ctrl-C\n",
  );
  process.exit(0);
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const step = (line: string) => out(`\n▸ ${line}`);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)}s`;

/** The world's tools are built once, into a cache; this is the slow part of a first run. */
function ensureTools(): void {
  const status = installMissingTools((names) =>
    step(
      `first run: building the test world's tools (${names.join(", ")}); this takes several minutes, once`,
    ),
  );
  if (status !== 0) throw new Error("the tools could not be installed (see above)");
}

/** What must be stopped at the end, newest first. */
const cleanups: (() => Promise<void>)[] = [];
let stopping: Promise<void> | undefined;
function teardown(): Promise<void> {
  stopping ??= (async () => {
    step("stopping everything the demo started");
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => out(`  ${err instanceof Error ? err.message : String(err)}`));
    }
    out("  stopped");
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping) {
      out("  still stopping; signal again in a moment to leave at once");
      process.once(signal, () => process.exit(130));
      return;
    }
    void teardown().then(() => process.exit(130));
  });
}

/** The live processes a supervisor's PID file lists, newest first. */
function pidsIn(pidFile: string): number[] {
  if (!existsSync(pidFile)) return [];
  const entries = JSON.parse(readFileSync(pidFile, "utf8")) as { pid: number }[];
  return entries
    .map((e) => e.pid)
    .filter(isAlive)
    .reverse();
}

function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The running world DC_WORLD_DIR names, or a new one for this demo. */
async function world(): Promise<{
  info: WorldInfo;
  supervisor: Supervisor;
  namespace: string;
  reused: boolean;
}> {
  const reuse = process.env.DC_WORLD_DIR && resolve(process.env.DC_WORLD_DIR);
  if (reuse && existsSync(join(reuse, "world.json"))) {
    out(`▸ using the test world running in ${reuse}`);
    const info = JSON.parse(readFileSync(join(reuse, "world.json"), "utf8")) as WorldInfo;
    const supervisor = new Supervisor(scratchDir("durable-canary-demo-"));
    startWatchdog(supervisor.pidFile);
    cleanups.push(() => supervisor.stopAll());
    // Its own namespace: the world may serve others (tests) at the same time.
    return {
      info,
      supervisor,
      namespace: `demo-${process.pid}`,
      reused: true,
    };
  }
  ensureTools();
  const dir = scratchDir("durable-canary-demo-");
  step("starting the test world: Kubernetes API server (simulated nodes), Temporal, Prometheus");
  const started = performance.now();
  const pidFile = join(dir, "pids.json");
  const starting = startWorld(dir, { log: (line) => out(`  ${line}`) });
  // startWorld writes its PID file before it starts anything. Until it hands over its
  // supervisor, the demo stops (Ctrl-C) what the file lists.
  startWatchdog(pidFile);
  let stopWorld = () => stopGroups(pidsIn(pidFile));
  cleanups.push(() => stopWorld());
  const { info, supervisor } = await starting;
  stopWorld = () => supervisor.stopAll();
  out(`  test world ready in ${seconds(started)}`);
  return { info, supervisor, namespace: "demo", reused: false };
}

/** Traffic for the sample app, answered as each version behaves, counted for Prometheus. */
async function simulatedMesh(
  info: WorldInfo,
  namespace: string,
): Promise<{ mesh: MeshSimulator; app: AppHandle }> {
  const mesh = await startMeshSimulator({
    kubeconfig: info.kubeconfig,
    prometheusTargetsDir: info.prometheusTargetsDir,
    job: `demo-${process.pid}`,
    maxLifetimeMs: 24 * 3600_000,
    tickMs: 50,
    routePollMs: 100,
  });
  cleanups.push(() => mesh.stop());
  const app = mesh.add({ namespace, service: APP, target: APP, router: "httproute", rps: 100 });
  await waitForTargetUp(info.prometheusUrl, mesh.job as string);
  return { mesh, app };
}

async function main(): Promise<number> {
  const began = performance.now();
  const { info, supervisor, namespace, reused } = await world();
  const kube = adminClient(info);

  step("starting the operator as its own process: `durable-canary run`");
  const started = performance.now();
  const operator = startOperator(supervisor, info, namespace);
  await operatorReady(operator);
  out(`  operator ready in ${seconds(started)} (pid ${operator.pid}); its log: ${operator.logFile}`);

  step("starting the simulated mesh: 100 requests/s to podinfo, scraped by Prometheus");
  const { app } = await simulatedMesh(info, namespace);

  step(`deploying podinfo 1.0.0 to namespace ${namespace}: a Deployment, a Service and a Canary`);
  await deployApp(kube, namespace);
  // A world of the demo's own goes, and the app with it; a shared one is left as it was. Pushed
  // after the operator, so it runs before the operator stops: the operator finalizes the Canary.
  if (reused) cleanups.push(() => removeApp(kube, namespace));
  await followCanary(kube, namespace, {
    done: (s) => s.phase === "Initialized",
    print: (l) => out(`  ${l}`),
  });
  const ui = temporalUiLink(info.temporalUiUrl, info.temporalNamespace, workflowId(namespace, APP));
  out(`  the Canary's workflow in the Temporal UI: ${ui}`);

  step("version 2.0.0, healthy: the canary gets 20%, 40%, 60% of the traffic, checked every 3s");
  const healthy = await rollOut(kube, namespace, "2.0.0", { print: (l) => out(`  ${l}`) });
  const promoted = healthy.phase === "Succeeded";
  out(
    promoted
      ? `  ✔ Succeeded: 2.0.0 promoted, the primary runs ${await primaryVersion(kube, namespace)}`
      : `  ✘ expected Succeeded, got ${healthy.phase}: ${outcomeMessage(healthy)}`,
  );

  step("version 3.0.0: once it gets traffic, 30% of its requests fail");
  let failing = false;
  const broken = await rollOut(kube, namespace, "3.0.0", {
    print: (l) => out(`  ${l}`),
    onStatus: (status) => {
      if (failing || (status.canaryWeight ?? 0) === 0) return;
      failing = true;
      app.set("canary", { errorRate: 0.3 });
      out("  (3.0.0 now answers 30% of its requests with 500)");
    },
  });
  // The next version someone tries by hand is healthy again.
  app.set("canary", { errorRate: 0 });
  const rolledBack = broken.phase === "Failed";
  out(
    rolledBack
      ? `  ✘ Failed, rolled back: ${outcomeMessage(broken)}\n` +
          `  the primary still runs ${await primaryVersion(kube, namespace)}; the canary gets no traffic`
      : `  expected Failed, got ${broken.phase}: ${outcomeMessage(broken)}`,
  );
  for (const command of ["explain", "history"]) {
    step(`durable-canary ${command} ${APP} -n ${namespace}`);
    const { code, output } = canaryCommand(info, namespace, command);
    out(output.replace(/^/gm, "  "));
    if (code !== 0) out(`  (exit code ${code})`);
  }
  out(`\n  both rollouts in the Temporal UI: ${ui}`);
  const ok = promoted && rolledBack;
  out(`\n${ok ? "Demo done" : "Demo done, but not as expected (see above)"} in ${seconds(began)}.`);

  if (flags["exit-when-done"]) {
    await teardown();
    return ok ? 0 : 1;
  }
  const kubectl = `${resolveBinary("kubectl")?.path ?? "kubectl"} --kubeconfig ${info.kubeconfig} -n ${namespace}`;
  out(
    [
      "Everything keeps running until Ctrl-C:",
      `  Temporal UI:   ${info.temporalUiUrl}`,
      `  the objects:   ${kubectl} get canaries,deployments,services,httproutes`,
      `  operator log:  ${operator.logFile}`,
      `  a new version: ${kubectl} set image deployment/${APP} podinfo=example.com/podinfo:4.0.0`,
      `  watch it:      ${kubectl} get canary ${APP} -w`,
      "  the command line, in a shell of its own:",
      `    ${Object.entries(cliEnv(info))
        .map(([k, v]) => `export ${k}=${v}`)
        .join("; ")}`,
      `    node src/main.ts status ${APP} -n ${namespace}   (also watch, history, explain, ui, pause, abort…)`,
      "Press Ctrl-C to stop and remove everything.",
    ].join("\n"),
  );
  // Kept alive by a timer: the signal handlers above end it.
  setInterval(() => {}, 60_000);
  return new Promise<number>(() => {});
}

try {
  process.exitCode = await main();
} catch (err) {
  out(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
  await teardown();
  process.exitCode = 1;
}
