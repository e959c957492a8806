/**
 * Shared pieces of the Kubernetes activity tests: an admin client for setting the scene, the
 * operator's client (its service account, bound to deploy/rbac) for the activities under test,
 * one namespace per test file, and builders for Deployments, DaemonSets and Canaries.
 */
import { randomUUID } from "node:crypto";
import { after, before } from "node:test";
import {
  CoreV1Api,
  KubeConfig,
  type V1DaemonSet,
  type V1Deployment,
  type V1PodTemplateSpec,
} from "@kubernetes/client-node";
import { MockActivityEnvironment } from "@temporalio/testing";
import { createKubernetesActivities, type KubernetesActivities } from "../../activities/kubernetes.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { validateCanary } from "../../src/api/validate.ts";
import { KubeClient, type WatchOptions } from "../../src/kube/client.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { neverReadyLabel } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";

const world = worldEnv();

const adminConfig = new KubeConfig();
adminConfig.loadFromFile(world.kubeconfig);
const core = adminConfig.makeApiClient(CoreV1Api);

/** Sets the scene and inspects the result: not the identity under test. */
export const admin = new KubeClient(adminConfig, { fieldManager: "test-user" });

/** The admin's rights under another field manager: objects as another controller would write them. */
export function adminAs(fieldManager: string): KubeClient {
  return new KubeClient(adminConfig, { fieldManager });
}

/** A client with the operator's service account and a fresh request counter. */
export function operatorClient(): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(world.operatorKubeconfig);
  return new KubeClient(kc);
}

/** An activity context as a worker would give it: scheduled now, its own invocation ID, generous timeout. */
export function activityEnv(): MockActivityEnvironment {
  const now = Date.now();
  return new MockActivityEnvironment({
    activityId: randomUUID(),
    scheduledTimestampMs: now,
    currentAttemptScheduledTimestampMs: now,
    startToCloseTimeoutMs: 10 * 60_000,
    heartbeatTimeoutMs: 10_000,
  });
}

export function operatorActivities(kube = operatorClient()): {
  kube: KubeClient;
  activities: KubernetesActivities;
} {
  return { kube, activities: createKubernetesActivities({ kube, readyWaitMs: 90_000 }) };
}

/** A namespace for this test file, created before its tests and deleted after. */
export function testNamespace(prefix: string): string {
  const namespace = `${prefix}-${process.pid}`;
  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });
  return namespace;
}

export interface PodOptions {
  readonly image?: string;
  readonly neverReady?: boolean;
  readonly labels?: Record<string, string>;
  readonly cpu?: string;
  readonly extra?: Partial<NonNullable<V1PodTemplateSpec["spec"]>>;
}

export function podTemplate(app: string, options: PodOptions = {}): V1PodTemplateSpec {
  return {
    metadata: {
      labels: { app, ...options.labels, ...(options.neverReady ? { [neverReadyLabel]: "true" } : {}) },
      annotations: { "example.test/owner": "team-a" },
    },
    spec: {
      containers: [
        {
          name: "app",
          image: options.image ?? "example.test/app:1",
          ports: [{ name: "http", containerPort: 8080 }],
          ...(options.cpu ? { resources: { requests: { cpu: options.cpu } } } : {}),
        },
      ],
      ...options.extra,
    },
  };
}

export function deployment(
  namespace: string,
  name: string,
  replicas = 2,
  options: PodOptions = {},
): V1Deployment {
  return {
    metadata: {
      name,
      namespace,
      labels: { team: "a", "kustomize.toolkit.fluxcd.io/name": "apps" },
      annotations: {
        "example.test/docs": "https://docs.example.test",
        "kustomize.toolkit.fluxcd.io/checksum": "x",
      },
    },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name, options) },
  };
}

export function daemonSet(namespace: string, name: string, options: PodOptions = {}): V1DaemonSet {
  return {
    metadata: { name, namespace },
    spec: { selector: { matchLabels: { app: name } }, template: podTemplate(name, options) },
  };
}

/** Creates a Canary object and returns the Target the workflow would pass to activities. */
export async function createCanary(namespace: string, name: string, spec: CanarySpec): Promise<Target> {
  await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
  return { ref: { namespace, name }, spec: resolve(spec) };
}

export function resolve(spec: CanarySpec): ResolvedCanarySpec {
  const result = validateCanary(spec);
  if (!result.ok) throw new Error(`invalid test spec: ${result.errors.join("; ")}`);
  return result.spec;
}

export function canarySpec(target: string, overrides: Partial<CanarySpec> = {}): CanarySpec {
  return {
    provider: "gatewayapi:v1",
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
    service: { port: 80, targetPort: 8080 },
    analysis: { interval: "1s", threshold: 2, stepWeight: 20, maxWeight: 60 },
    progressDeadlineSeconds: 60,
    ...overrides,
  };
}

export async function waitForDeployment(
  namespace: string,
  name: string,
  check: (d: V1Deployment) => boolean,
  what = "condition",
  timeoutMs = 60_000,
): Promise<V1Deployment> {
  return waitFor(
    `deployment ${namespace}/${name}: ${what}`,
    async () => {
      const d = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
      return check(d) ? d : undefined;
    },
    { timeoutMs },
  );
}

/** Creates the Deployment and waits until all its replicas are available. */
export async function createAvailable(body: V1Deployment, client = admin): Promise<V1Deployment> {
  const namespace = body.metadata?.namespace ?? "";
  const name = body.metadata?.name ?? "";
  await client.create(RESOURCES.deployments, namespace, body);
  return waitForDeployment(namespace, name, isAvailable, "available");
}

/**
 * Available, and the deployment controller has finished recording it (Progressing says the new
 * ReplicaSet is available): from here it writes nothing until something changes.
 */
export function isSettled(d: V1Deployment): boolean {
  const progressing = d.status?.conditions?.find((c) => c.type === "Progressing");
  return isAvailable(d) && progressing?.reason === "NewReplicaSetAvailable";
}

export function isAvailable(d: V1Deployment): boolean {
  const desired = d.spec?.replicas ?? 1;
  return (
    (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (d.status?.updatedReplicas ?? 0) === desired &&
    (d.status?.availableReplicas ?? 0) === desired &&
    (d.status?.replicas ?? 0) === desired
  );
}

/**
 * Watches as admin until `signal` aborts. Each watch resumes where the last ended, so no change
 * falls between two; a version too old to resume from (410 Gone) or a failed watch lists again,
 * the latter after a pause rather than in a tight loop.
 */
export async function watchWithoutGaps<T extends { metadata?: { resourceVersion?: string } }>(
  type: ResourceType,
  namespace: string,
  options: WatchOptions,
  onEvent: (type: "ADDED" | "MODIFIED" | "DELETED", object: T) => void,
  signal: AbortSignal,
): Promise<void> {
  let resourceVersion: string | undefined;
  while (!signal.aborted) {
    const failed = await admin.watch<T>(
      type,
      namespace,
      { timeoutSeconds: 20, ...options, ...(resourceVersion ? { resourceVersion } : {}) },
      (event, object) => {
        if (event === "ERROR") {
          resourceVersion = undefined;
          return;
        }
        resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
        if (event !== "BOOKMARK") onEvent(event, object);
      },
      signal,
    );
    if (failed && !signal.aborted) {
      resourceVersion = undefined;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
