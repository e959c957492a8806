/**
 * The demo's steps, each usable on its own (the smoke test runs the whole demo on the shared test
 * world): the operator as its own process, the sample app from demo/manifests, a new version of
 * it, and a rollout followed through the Canary's status as `kubectl get canary -w` shows it.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  loadAllYaml,
} from "@kubernetes/client-node";
import type { CanarySpec, CanaryStatus } from "../src/api/canary.ts";
import { KubeClient } from "../src/kube/client.ts";
import { RESOURCES, type ResourceType } from "../src/kube/resources.ts";
import { operatorNamespace } from "../test/harness/cluster.ts";
import { type ManagedProcess, type Supervisor, waitFor } from "../test/harness/process.ts";
import type { WorldInfo } from "../test/harness/world.ts";
import { progressLine, progressText } from "./view.ts";

/** The sample app's Deployment, Service and Canary all have this name. */
export const APP = "podinfo";
export const IMAGE = "example.com/podinfo";

const mainFile = join(import.meta.dirname, "../src/main.ts");
const manifestFile = join(import.meta.dirname, "manifests/podinfo.yaml");

export function adminClient(world: Pick<WorldInfo, "kubeconfig">): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(world.kubeconfig);
  return new KubeClient(kc, { fieldManager: "durable-canary-demo" });
}

/**
 * `durable-canary run` as a user starts it, watching only the demo's namespace, with a task
 * queue and Lease of its own so that it never takes work from another operator on the same world.
 */
export function startOperator(supervisor: Supervisor, world: WorldInfo, namespace: string): ManagedProcess {
  const id = `demo-${process.pid}`;
  return supervisor.start({
    name: "operator",
    command: process.execPath,
    args: [
      mainFile,
      "run",
      "--kubeconfig",
      world.operatorKubeconfig,
      "--namespace",
      namespace,
      "--listen",
      "127.0.0.1:0",
      "--task-queue",
      id,
      "--leader-election-namespace",
      operatorNamespace,
      "--leader-election-id",
      id,
      "--metrics-server",
      world.prometheusUrl,
      "--finalize-timeout",
      "15s",
      // Its log is a file, which people read: text, not JSON.
      "--log-format",
      "text",
    ],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: world.temporalAddress,
      TEMPORAL_NAMESPACE: world.temporalNamespace,
      LOG_LEVEL: "info",
    },
  });
}

export async function operatorReady(operator: ManagedProcess, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    "the operator",
    async () => (readFileSync(operator.logFile, "utf8").includes("operator ready") ? true : undefined),
    { timeoutMs, intervalMs: 200, process: operator },
  );
}

/** What the command line needs to reach the world: its Temporal, its UI and its cluster. */
export function cliEnv(world: WorldInfo): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: world.temporalAddress,
    TEMPORAL_NAMESPACE: world.temporalNamespace,
    DURABLE_CANARY_UI_ADDRESS: world.temporalUiUrl,
    KUBECONFIG: world.kubeconfig,
  };
}

/** `durable-canary <command> podinfo -n <namespace>`, as a person would run it; its output and exit code. */
export function canaryCommand(
  world: WorldInfo,
  namespace: string,
  command: string,
): { code: number | null; output: string } {
  const result = spawnSync(process.execPath, [mainFile, command, APP, "-n", namespace], {
    env: { ...process.env, ...cliEnv(world) },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}`.trimEnd() };
}

const kinds: readonly ResourceType[] = [RESOURCES.deployments, RESOURCES.services, RESOURCES.canaries];

/** The sample app's objects, as in demo/manifests/podinfo.yaml. */
export function manifests(): KubernetesObject[] {
  return loadAllYaml(readFileSync(manifestFile, "utf8")) as KubernetesObject[];
}

/** Creates the namespace (if new) and the sample app in it. */
export async function deployApp(kube: KubeClient, namespace: string): Promise<void> {
  try {
    await kube.api(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
  for (const object of manifests()) {
    const type = kinds.find((k) => k.kind === object.kind);
    if (!type) throw new Error(`demo/manifests: no resource type for kind ${object.kind}`);
    await kube.create(type, namespace, { ...object, metadata: { ...object.metadata, namespace } });
  }
}

/** A new version of the app: its image's tag, as a CI pipeline would set it. */
export async function setVersion(kube: KubeClient, namespace: string, version: string): Promise<void> {
  await kube.jsonPatch(RESOURCES.deployments, namespace, APP, [
    { op: "replace", path: "/spec/template/spec/containers/0/image", value: `${IMAGE}:${version}` },
  ]);
}

export async function primaryVersion(kube: KubeClient, namespace: string): Promise<string | undefined> {
  const primary = await kube.find<{ spec?: { template?: { spec?: { containers?: { image?: string }[] } } } }>(
    RESOURCES.deployments,
    namespace,
    `${APP}-primary`,
  );
  return primary?.spec?.template?.spec?.containers?.[0]?.image?.split(":").at(-1);
}

interface CanaryObject {
  spec?: CanarySpec;
  status?: CanaryStatus;
}

export interface FollowOptions {
  /** Called with each status until it returns true. */
  readonly done: (status: CanaryStatus) => boolean;
  readonly print: (line: string) => void;
  /** Called with every status read, for what should happen at a point of the rollout. */
  readonly onStatus?: (status: CanaryStatus) => void;
  readonly timeoutMs?: number;
}

/** Reads the Canary's status until `done`, printing a line whenever it changes. */
export async function followCanary(
  kube: KubeClient,
  namespace: string,
  options: FollowOptions,
): Promise<CanaryStatus> {
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let shown: string | undefined;
  let last: CanaryStatus = {};
  while (Date.now() < deadline) {
    try {
      const canary = await kube.get<CanaryObject>(RESOURCES.canaries, namespace, APP);
      last = canary.status ?? {};
      const text = progressText(last, canary.spec?.analysis?.threshold ?? 1);
      if (text !== shown) {
        options.print(progressLine(text, new Date()));
        shown = text;
      }
      options.onStatus?.(last);
      if (options.done(last)) return last;
    } catch (err) {
      // A slow or restarting API server: the next read tells.
      if (Date.now() >= deadline) throw err;
    }
    await sleep(250);
  }
  throw new Error(
    `Canary ${namespace}/${APP}: no outcome in time (last: phase ${last.phase}, weight ${last.canaryWeight})`,
  );
}

const ENDED = new Set(["Succeeded", "Failed"]);

/**
 * Sets a new version and follows its rollout to its end: Succeeded or Failed once the Canary
 * left the previous rollout's end (so that end is never taken for this one's).
 */
export async function rollOut(
  kube: KubeClient,
  namespace: string,
  version: string,
  options: Omit<FollowOptions, "done">,
): Promise<CanaryStatus> {
  await setVersion(kube, namespace, version);
  let started = false;
  return followCanary(kube, namespace, {
    ...options,
    done: (status) => {
      if (!ENDED.has(status.phase ?? "") && status.phase !== "Initialized") started = true;
      return started && ENDED.has(status.phase ?? "");
    },
  });
}

/** Deletes the Canary (its workflow finalizes it while the operator runs), then the namespace. */
export async function removeApp(kube: KubeClient, namespace: string): Promise<void> {
  await kube.delete(RESOURCES.canaries, namespace, APP);
  await waitFor(
    `Canary ${namespace}/${APP} deleted`,
    async () => ((await kube.find(RESOURCES.canaries, namespace, APP)) === undefined ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  await kube.api(CoreV1Api).deleteNamespace({ name: namespace });
}
