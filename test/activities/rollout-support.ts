/**
 * Shared by the end-to-end rollouts (tests and bench/api.ts): the canary workflow on the test
 * world's Temporal with real activities, revisions computed and signalled as the controller does,
 * the Canary's status as it is written, and the canary weights its route goes through.
 * No node:test hooks here, so a benchmark script can use it too.
 */

import { randomUUID } from "node:crypto";
import type { V1Deployment } from "@kubernetes/client-node";
import { Client, Connection, type WorkflowHandle } from "@temporalio/client";
import { NativeConnection, Worker } from "@temporalio/worker";
import { createCanaryActivities } from "../../activities/index.ts";
import { resolvingSpecs } from "../../activities/target-spec.ts";
import type { CanarySpec, CanaryStatus } from "../../src/api/canary.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { readRevision } from "../../src/kube/configs.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { CanaryActivities, Target } from "../../workflows/activity-port.ts";
import type { canaryWorkflow } from "../../workflows/canary.ts";
import { revisionSignal, workflowId } from "../../workflows/messages.ts";
import { waitFor } from "../harness/process.ts";
import { stopBetweenTasks } from "../harness/worker-stop.ts";
import { worldEnv } from "../harness/world-env.ts";
import { workflowBundle } from "../workflows/support.ts";
import { admin, watchWithoutGaps } from "./kube-support.ts";

export type CanaryWorkflowHandle = WorkflowHandle<typeof canaryWorkflow>;

/** All the worker's activities over `kube` (the operator's service account: see operatorClient) and the test world's Prometheus. */
export function realActivities(kube: KubeClient): CanaryActivities {
  const world = worldEnv();
  return createCanaryActivities({
    kube,
    readyWaitMs: 90_000,
    config: {
      metricsServer: world.prometheusUrl,
      metricsQueryTimeoutMs: 5000,
      clusterName: "test",
      globalAlertProvider: undefined,
      crossNamespaceRefs: true,
      denyLocalDestinations: false,
    },
  });
}

/** A worker with the given activities on a task queue of its own, and a client to drive canaries. */
export class CanaryWorker {
  readonly client: Client;
  #generation = 1;
  readonly #connection: Connection;
  readonly #workerConnection: NativeConnection;
  readonly #worker: Worker;
  readonly #running: Promise<void>;

  private constructor(connection: Connection, workerConnection: NativeConnection, worker: Worker) {
    this.#connection = connection;
    this.#workerConnection = workerConnection;
    this.#worker = worker;
    this.client = new Client({ connection, namespace: worldEnv().temporalNamespace });
    this.#running = worker.run();
  }

  static async start(activities: CanaryActivities): Promise<CanaryWorker> {
    const world = worldEnv();
    const connection = await Connection.connect({ address: world.temporalAddress });
    const workerConnection = await NativeConnection.connect({ address: world.temporalAddress });
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: world.temporalNamespace,
      taskQueue: `real-activities-${randomUUID()}`,
      workflowBundle: await workflowBundle(),
      activities: resolvingSpecs(activities),
      // A test that failed mid-activity must not hold its file open past the test runner's timeout.
      shutdownForceTime: "15s",
    });
    return new CanaryWorker(connection, workerConnection, worker);
  }

  /**
   * Sends the target's current revision as the controller does: signal-with-start, so the first
   * one starts the workflow and initializes the canary.
   */
  async sendRevision(target: Target): Promise<{ revision: string; handle: CanaryWorkflowHandle }> {
    const { namespace, name } = target.ref;
    const revision = await targetRevision(namespace, target.spec.targetRef.name);
    const handle = await this.client.workflow.signalWithStart("canaryWorkflow", {
      workflowId: workflowId(namespace, name),
      taskQueue: this.#worker.options.taskQueue,
      args: [{ ref: target.ref }],
      signal: revisionSignal,
      signalArgs: [{ revision, spec: target.spec, generation: this.#generation++ }],
    });
    return { revision, handle: this.client.workflow.getHandle(handle.workflowId) };
  }

  async close(): Promise<void> {
    await stopBetweenTasks(this.#worker, this.#running);
    await this.#workerConnection.close();
    await this.#connection.close();
  }
}

/** The revision the controller would compute: pod template plus tracked configs. */
export async function targetRevision(namespace: string, name: string): Promise<string> {
  const target = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
  return (await readRevision(admin, namespace, target.spec?.template)).revision;
}

async function canaryStatus(namespace: string, name: string): Promise<CanaryStatus> {
  return (await admin.get<{ status?: CanaryStatus }>(RESOURCES.canaries, namespace, name)).status ?? {};
}

/** Waits until the Canary's status shows `phase` for `revision`, as written by the workflow. */
export function settled(
  namespace: string,
  name: string,
  phase: string,
  revision: string,
  timeoutMs = 60_000,
): Promise<CanaryStatus> {
  return waitFor(
    `Canary ${namespace}/${name} status ${phase} for ${revision}`,
    async () => {
      const s = await canaryStatus(namespace, name);
      if (s.phase === phase && s.lastAppliedSpec === revision) return s;
      throw new Error(`phase ${s.phase} (${s.conditions?.[0]?.message ?? ""})`);
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Changes the target's image, as a user's deployment pipeline would: a new revision. */
export async function setImage(namespace: string, name: string, image: string): Promise<void> {
  await admin.jsonPatch(RESOURCES.deployments, namespace, name, [
    { op: "replace", path: "/spec/template/spec/containers/0/image", value: image },
  ]);
}

interface HttpRoute {
  metadata?: { resourceVersion?: string };
  spec: { rules: { backendRefs: { name: string; weight: number }[] }[] };
}

/** The HTTPRoute's weights for the apex service's primary and canary backends. */
export async function routeWeights(
  namespace: string,
  service: string,
): Promise<{ primary: number | undefined; canary: number | undefined }> {
  const route = await admin.get<HttpRoute>(RESOURCES.httpRoutes, namespace, service);
  const weight = (backend: string) =>
    route.spec.rules[0]?.backendRefs.find((b) => b.name === backend)?.weight;
  return { primary: weight(`${service}-primary`), canary: weight(`${service}-canary`) };
}

export interface WeightRecorder {
  /** The canary weights the HTTPRoute went through, in order. */
  readonly weights: number[];
  /** The operator's request count (`counter.total()`) when each weight was first seen. */
  readonly requestsAt: number[];
  /** The operator's requests from each weight change to the next. */
  requestsBetweenChanges(): number[];
  stop(): Promise<void>;
}

/**
 * Watches the apex service's HTTPRoute (as admin, so the operator's counter sees only the
 * operator) and records each change of the canary's weight with the operator's request count then.
 */
export function recordCanaryWeights(
  namespace: string,
  service: string,
  operator: KubeClient,
): WeightRecorder {
  const weights: number[] = [];
  const requestsAt: number[] = [];
  const stop = new AbortController();
  const watching = watchWithoutGaps<HttpRoute>(
    RESOURCES.httpRoutes,
    namespace,
    { fieldSelector: `metadata.name=${service}` },
    (type, route) => {
      if (type === "DELETED") return;
      const weight =
        route.spec.rules[0]?.backendRefs.find((b) => b.name === `${service}-canary`)?.weight ?? 0;
      if (weights.at(-1) !== weight) {
        weights.push(weight);
        requestsAt.push(operator.counter.total());
      }
    },
    stop.signal,
  );
  return {
    weights,
    requestsAt,
    requestsBetweenChanges: () => requestsAt.slice(1).map((n, i) => n - (requestsAt[i] ?? 0)),
    stop: async () => {
      stop.abort();
      await watching;
    },
  };
}

/**
 * The Deployment rollout the end-to-end test and the API benchmark share: two weight steps at a
 * 1 s interval, and a short progress deadline for the revision that never becomes ready. Short,
 * not tight: a loaded machine's controller-manager took over 5 s to observe a scale-up.
 */
export const ROLLOUT: Partial<CanarySpec> = {
  analysis: { interval: "1s", threshold: 1, stepWeight: 25, maxWeight: 50 },
  progressDeadlineSeconds: 15,
};
