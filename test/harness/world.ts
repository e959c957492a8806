/**
 * The test world: the Kubernetes control plane, Temporal and Prometheus, started together on
 * 127.0.0.1. Temporal is the dev server, or (`temporal: "cluster"`) a real multi-service cluster on
 * PostgreSQL. One world serves a whole test run; tests isolate themselves by namespace.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startCluster } from "./cluster.ts";
import { installCrds, routingCrdFiles } from "./crds.ts";
import { Supervisor } from "./process.ts";
import { startPrometheus } from "./prometheus.ts";
import { startTemporal } from "./temporal.ts";
import { clusterServices, startTemporalCluster } from "./temporal-cluster.ts";
import { worldEnvNames } from "./world-env.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");

export interface WorldInfo {
  dir: string;
  kubeServer: string;
  kubeconfig: string;
  operatorKubeconfig: string;
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string;
  prometheusUrl: string;
  prometheusTargetsDir: string;
  /** Set when Temporal is a multi-service cluster rather than the dev server. */
  temporalCluster?: TemporalClusterInfo;
}

export type TemporalKind = "dev-server" | "cluster";

export interface TemporalClusterInfo {
  postgresPort: number;
  /** Each service's process, so people can find its log and PID. */
  processes: Record<string, { pid: number; logFile: string }>;
}

/** The environment variables through which tests (see world-env.ts) and people find the world. */
export function worldEnvVars(info: WorldInfo): Record<string, string> {
  return Object.fromEntries(
    (Object.entries(worldEnvNames) as [keyof typeof worldEnvNames, string][]).map(([key, name]) => [
      name,
      info[key],
    ]),
  );
}

/** Our own CRDs, once deploy/crds has them. */
function projectCrdFiles(): string[] {
  const dir = join(repo, "deploy", "crds");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(dir, f));
}

async function timed<T>(what: string, log: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  log(`${what} ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  return result;
}

/**
 * Starts every component. On failure everything already started is stopped before the error
 * propagates, so a half-started world never lingers.
 */
export async function startWorld(
  dir: string,
  options: { detached?: boolean; log?: (line: string) => void; temporal?: TemporalKind } = {},
): Promise<{ info: WorldInfo; supervisor: Supervisor }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[world] ${line}\n`));
  mkdirSync(dir, { recursive: true });
  const supervisor = new Supervisor(dir, { detached: options.detached });
  try {
    const [cluster, temporal, prometheus] = await Promise.all([
      timed("kubernetes", log, async () => {
        const c = await startCluster(supervisor, join(dir, "cluster"));
        await installCrds(c.kubeconfig, [...routingCrdFiles, ...projectCrdFiles()]);
        return c;
      }),
      timed("temporal", log, () =>
        startWorldTemporal(supervisor, dir, options.temporal ?? "dev-server", log),
      ),
      timed("prometheus", log, () => startPrometheus(supervisor, { dir: join(dir, "prometheus") })),
    ]);
    const info: WorldInfo = {
      dir,
      kubeServer: cluster.server,
      kubeconfig: cluster.kubeconfig,
      operatorKubeconfig: cluster.operatorKubeconfig,
      temporalAddress: temporal.address,
      temporalNamespace: temporal.namespace,
      temporalUiUrl: temporal.uiUrl,
      prometheusUrl: prometheus.url,
      prometheusTargetsDir: prometheus.targetsDir,
      temporalCluster: temporal.cluster,
    };
    writeWorldFiles(info);
    return { info, supervisor };
  } catch (err) {
    await supervisor.stopAll();
    throw err;
  }
}

/** The world's Temporal: the dev server, or a cluster with its PostgreSQL and process list. */
async function startWorldTemporal(
  supervisor: Supervisor,
  dir: string,
  kind: TemporalKind,
  log: (line: string) => void,
): Promise<{ address: string; namespace: string; uiUrl: string; cluster?: TemporalClusterInfo }> {
  if (kind === "dev-server") return startTemporal(supervisor, { dir: join(dir, "temporal") });
  const cluster = await startTemporalCluster(supervisor, {
    dir: join(dir, "temporal-cluster"),
    log: (line) => log(`temporal cluster: ${line}`),
  });
  const processes = cluster.processes();
  return {
    address: cluster.address,
    namespace: cluster.namespace,
    uiUrl: cluster.uiUrl,
    cluster: {
      postgresPort: cluster.postgresPort,
      processes: Object.fromEntries(
        (["postgres", ...clusterServices, "ui"] as const).map((name) => [
          name,
          { pid: processes[name].pid, logFile: processes[name].logFile },
        ]),
      ),
    },
  };
}

/** world.json for programs, world.env for shells (`source world.env`). */
export function writeWorldFiles(info: WorldInfo): void {
  writeFileSync(join(info.dir, "world.json"), `${JSON.stringify(info, null, 2)}\n`);
  const lines = Object.entries(worldEnvVars(info)).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`);
  lines.push(`export KUBECONFIG=${JSON.stringify(info.kubeconfig)}`);
  writeFileSync(join(info.dir, "world.env"), `${lines.join("\n")}\n`);
}
