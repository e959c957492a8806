/**
 * Shared pieces of the install tests: running kubectl and helm as a user would, parsing what they
 * render, and the checks every operator Deployment must pass however it was rendered.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  loadYaml,
  type V1Container,
  type V1Deployment,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import { Command } from "commander";
import type { OperatorConfig } from "../../src/config/operator.ts";
import { operatorConfig, type RunFlags, runOptions } from "../../src/operator/options.ts";
import { type BinaryKey, requireBinary } from "../../tools/catalog.ts";
import { worldEnv } from "../harness/world-env.ts";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const deployDir = join(repo, "deploy");
export const chartDir = join(repo, "charts", "durable-canary");

const world = worldEnv();

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a test-world tool (kubectl, helm) with `input` on stdin; never throws on a non-zero exit. */
export function runTool(tool: BinaryKey, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireBinary(tool), args, { cwd: repo, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** The same, failing the test with the tool's own words when it exits non-zero. */
export async function mustRun(tool: BinaryKey, args: string[], input?: string): Promise<string> {
  const result = await runTool(tool, args, input);
  assert.equal(
    result.code,
    0,
    `${tool} ${args.join(" ")} exited ${result.code}:\n${result.stderr}${result.stdout}`,
  );
  return result.stdout;
}

/** kubectl as the test world's cluster admin. */
export function kubectl(args: string[], input?: string): Promise<Result> {
  return runTool("kubectl", ["--kubeconfig", world.kubeconfig, ...args], input);
}

/**
 * Every object of a multi-document YAML stream as plain data (documents holding only comments are
 * skipped). The client's typed objects go through JSON so they compare like the data they are.
 */
export function parseManifests(text: string): KubernetesObject[] {
  return text
    .split(/^---[ \t]*$/m)
    .filter((doc) => /^[A-Za-z]/m.test(doc))
    .map((doc) => JSON.parse(JSON.stringify(loadYaml<KubernetesObject>(doc))) as KubernetesObject);
}

export function named<T extends KubernetesObject>(objects: KubernetesObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function only<T extends KubernetesObject>(objects: KubernetesObject[], kind: string): T {
  const found = named<T>(objects, kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0] as T;
}

export function container(deployment: V1Deployment): V1Container {
  const containers = deployment.spec?.template.spec?.containers ?? [];
  assert.equal(containers.length, 1, "the operator's pod has one container");
  return containers[0] as V1Container;
}

/** The hardening and probes every rendering of the operator's Deployment must have. */
export function assertHardenedOperator(deployment: V1Deployment): void {
  const pod = deployment.spec?.template.spec;
  assert.ok(pod, "the Deployment has a pod template");
  assert.equal(pod.securityContext?.runAsNonRoot, true, "pod runAsNonRoot");
  assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", "pod seccomp RuntimeDefault");
  const c = container(deployment);
  const sc = c.securityContext;
  assert.equal(sc?.runAsNonRoot, true, "container runAsNonRoot");
  assert.equal(sc?.readOnlyRootFilesystem, true, "readOnlyRootFilesystem");
  assert.equal(sc?.allowPrivilegeEscalation, false, "no privilege escalation");
  assert.deepEqual(sc?.capabilities?.drop, ["ALL"], "drops every capability");
  assert.equal(sc?.capabilities?.add, undefined, "adds no capability");
  assert.equal(sc?.seccompProfile?.type, "RuntimeDefault", "container seccomp RuntimeDefault");
  assert.equal(sc?.privileged, undefined, "not privileged");

  assert.deepEqual(
    c.ports?.map((p) => [p.name, p.containerPort]),
    [["http-metrics", 8080]],
  );
  assert.equal(c.livenessProbe?.httpGet?.path, "/healthz");
  assert.equal(c.livenessProbe?.httpGet?.port, "http-metrics");
  assert.equal(c.readinessProbe?.httpGet?.path, "/readyz");
  assert.equal(c.readinessProbe?.httpGet?.port, "http-metrics");

  assert.ok(c.resources?.requests?.cpu, "a CPU request");
  assert.ok(c.resources?.requests?.memory, "a memory request");
  assert.ok(c.resources?.limits?.memory, "a memory limit");

  // The root filesystem is read-only: /tmp is the one scratch space.
  const tmp = c.volumeMounts?.find((m) => m.mountPath === "/tmp");
  assert.ok(tmp, "/tmp is mounted");
  assert.ok(pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, "/tmp is an emptyDir");

  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  assert.equal(env.POD_NAME, "metadata.name", "POD_NAME from the downward API");
  assert.equal(env.POD_NAMESPACE, "metadata.namespace", "POD_NAMESPACE from the downward API");
}

/** The verbs RBAC rules allow on a resource, sorted. */
export function verbsOn(rules: V1PolicyRule[], group: string, resource: string): string[] {
  const verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
  return verbs.filter((v) => allows(rules, group, resource, v)).sort();
}

/** Whether RBAC rules allow a verb on a resource (no resourceNames or non-resource URLs involved). */
export function allows(rules: V1PolicyRule[], group: string, resource: string, verb: string): boolean {
  return rules.some(
    (r) =>
      (r.apiGroups ?? []).some((g) => g === group || g === "*") &&
      (r.resources ?? []).some((x) => x === resource || x === "*") &&
      r.verbs.some((v) => v === verb || v === "*") &&
      !r.resourceNames?.length,
  );
}

/** What the operator needs, beyond its activities' rules: the controller's informers and the Lease. */
export const watchedResources: [group: string, resource: string][] = [
  ["flagger.app", "canaries"],
  ["apps", "deployments"],
  ["apps", "daemonsets"],
];
/** What config tracking adds: the controller watches these, promotion writes their copies. */
export const trackedConfigs: [group: string, resource: string][] = [
  ["", "configmaps"],
  ["", "secrets"],
];
export const leaseVerbs = ["get", "create", "update"];

/**
 * A namespace for this file's server-side dry runs, created before its tests and deleted after,
 * that warns about any pod template below the "restricted" Pod Security Standard.
 */
export function restrictedNamespace(prefix: string): string {
  const name = `${prefix}-${process.pid}`;
  const kc = new KubeConfig();
  kc.loadFromFile(world.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  before(async () => {
    await core.createNamespace({
      body: {
        metadata: {
          name,
          labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
          },
        },
      },
    });
  });
  after(async () => {
    await core.deleteNamespace({ name });
  });
  return name;
}

/** A temporary folder for this file, removed after its tests. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/**
 * Server-side dry run of manifests as the admin: the API server validates (unknown fields are
 * errors) and admits them, and stores nothing.
 */
export function dryRunApply(manifests: string): Promise<Result> {
  return kubectl(["apply", "--dry-run=server", "--validate=strict", "-f", "-"], manifests);
}

/**
 * Parses a container's arguments with the operator's own `run` command, as the container would
 * start it, after the kubelet's $(VAR) expansion from `env`: an unknown flag or a bad value
 * fails here as it would fail the pod.
 */
export async function parseRunArgs(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ flags: RunFlags; config: OperatorConfig }> {
  const expanded = args.map((arg) =>
    arg.replaceAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole),
  );
  assert.equal(expanded[0], "run", "the container runs the run command");
  let flags: RunFlags | undefined;
  const program = new Command("durable-canary").exitOverride().configureOutput({ writeErr: () => {} });
  runOptions(program.command("run")).action((parsed: RunFlags) => {
    flags = parsed;
  });
  await program.parseAsync(expanded, { from: "user" });
  assert.ok(flags, "the run command ran");
  return { flags, config: operatorConfig(flags) };
}
