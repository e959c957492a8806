/**
 * The operator topology of a production install, on the test world's Kubernetes: two replicas
 * that each run the controller and a worker (the Lease picks the one that leads) and one
 * worker-only process, all on one task queue. A fleet of canaries is rolled out through the
 * Kubernetes API alone; who did the work is measured afterwards from the Temporal histories.
 */
import assert from "node:assert/strict";
import { Client, Connection } from "@temporalio/client";
import proto, { type temporal as api } from "@temporalio/proto";
import type { CanaryStatus } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { workflowId } from "../../workflows/messages.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  deployment,
  watchWithoutGaps,
} from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage, type WeightRecorder } from "../activities/rollout-support.ts";
import { OperatorProcess, operatorGroup } from "../e2e/operator.ts";
import { statusWhere } from "../e2e/support.ts";
import { operatorNamespace } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";

const { EventType } = proto.temporal.api.enums.v1;
type HistoryEvent = api.api.history.v1.IHistoryEvent;

/** The Temporal the operators use: the suite names it once, every process gets it from here. */
export interface TemporalTarget {
  readonly address: string;
  readonly namespace: string;
}

/** The processes of one install: name → role. */
const ROLES = { "replica-a": "all", "replica-b": "all", worker: "worker" } as const;
export type Slot = keyof typeof ROLES;
export const SLOTS = Object.keys(ROLES) as Slot[];

export class Topology {
  readonly group = operatorGroup();
  /** Every process started, replaced ones included: histories name them all. */
  readonly started: { slot: Slot; process: OperatorProcess }[] = [];
  readonly #running = new Map<Slot, OperatorProcess>();
  readonly namespace: string;
  readonly temporal: TemporalTarget;

  private constructor(namespace: string, temporal: TemporalTarget) {
    this.namespace = namespace;
    this.temporal = temporal;
  }

  /** Starts the three processes; resolves once each is ready (its worker polls). */
  static async start(namespace: string, temporal: TemporalTarget): Promise<Topology> {
    const topology = new Topology(namespace, temporal);
    try {
      await Promise.all(SLOTS.map((slot) => topology.startSlot(slot)));
    } catch (err) {
      await topology.stop();
      throw err;
    }
    return topology;
  }

  process(slot: Slot): OperatorProcess {
    const running = this.#running.get(slot);
    if (!running) throw new Error(`no ${slot} process runs`);
    return running;
  }

  /** Starts the slot's process (again) and waits until /readyz says its parts are all up. */
  async startSlot(slot: Slot): Promise<OperatorProcess> {
    const generation = this.started.filter((s) => s.slot === slot).length + 1;
    const operator = new OperatorProcess(
      `${this.namespace}-${slot}-${generation}`,
      this.group,
      ["--role", ROLES[slot], "--namespace", this.namespace, "--finalize-timeout", "15s"],
      { TEMPORAL_ADDRESS: this.temporal.address, TEMPORAL_NAMESPACE: this.temporal.namespace },
    );
    this.started.push({ slot, process: operator });
    this.#running.set(slot, operator);
    await operator.ready();
    await waitFor(
      `${operator.name}: /readyz`,
      async () => {
        if (!operator.alive) throw new Error(`${operator.name} exited; see ${operator.logFile}`);
        const ready = await operator.get("/readyz");
        if (ready.status !== 200) throw new Error(ready.body);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return operator;
  }

  /** The replica whose identity (host name and PID) holds the Lease. */
  async leader(): Promise<Slot> {
    return waitFor(
      "a leader holds the Lease",
      async () => {
        const lease = await admin.find<{ spec?: { holderIdentity?: string } }>(
          RESOURCES.leases,
          operatorNamespace,
          this.group.leaseId,
        );
        const holder = lease?.spec?.holderIdentity;
        return SLOTS.find((slot) => {
          const running = this.#running.get(slot);
          return running?.alive && holder?.endsWith(`-${running.pid}`);
        });
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  }

  /** The process a worker identity (`<pid>@<host>`, the SDK's default) belongs to. */
  nameOf(identity: string): string {
    const pid = Number(identity.split("@")[0]);
    const found = this.started.find((s) => s.process.pid === pid);
    if (!found) return `unknown (${identity})`;
    const generation = this.started.filter((s) => s.slot === found.slot).indexOf(found) + 1;
    return generation === 1 ? found.slot : `${found.slot} #${generation}`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.started.map((s) => s.process.stop("SIGKILL")));
  }
}

/** Steps short enough for a 2-core machine: 4 weight steps. */
export function analysis(intervalSeconds: number) {
  return { interval: `${intervalSeconds}s`, threshold: 2, stepWeight: 20, maxWeight: 80 } as const;
}

export const EVERY_STEP_ONCE = [0, 20, 40, 60, 80, 0];

/**
 * Intervals an undisturbed rollout waits, from its new revision to Succeeded: the first step
 * (20%) comes at once, then one interval before each of 40, 60 and 80% and the promotion, and
 * the promoted primary is checked at once. Noticing the revision, the Deployments' own rollouts
 * and the work of each step come on top.
 */
const IDEAL_INTERVALS = 4;

/** The phases a rollout goes through, in order; any other phase, or going back, is wrong. */
const ROLLOUT_PHASES = ["Initialized", "Progressing", "Promoting", "Finalising", "Succeeded"];

interface Watched {
  /** lastPromotedSpec before the rollout: Succeeded counts only for a newer one. */
  readonly before: string | undefined;
  /** The phases seen since it was Initialized, each change once. */
  readonly phases: string[];
  changedAt?: number;
  succeededAt?: number;
}

/**
 * Canaries (each with a one-replica Deployment) in one namespace, rolled out to a new image at
 * once. Their HTTPRoutes' weights and their phases are watched as a user would watch them.
 */
export class Fleet {
  readonly #watched = new Map<string, Watched>();
  readonly #routes = new Map<string, WeightRecorder>();
  readonly #stop = new AbortController();
  #watching: Promise<void> | undefined;
  readonly namespace: string;
  readonly names: readonly string[];
  readonly intervalMs: number;

  private constructor(namespace: string, names: readonly string[], intervalMs: number) {
    this.namespace = namespace;
    this.names = names;
    this.intervalMs = intervalMs;
  }

  /** Creates the canaries and waits until each is Initialized and its route is watched. */
  static async create(namespace: string, count: number, intervalSeconds: number): Promise<Fleet> {
    const names = Array.from({ length: count }, (_, i) => `app-${i}`);
    const fleet = new Fleet(namespace, names, intervalSeconds * 1000);
    await Promise.all(names.map((name) => createAvailable(deployment(namespace, name, 1))));
    await Promise.all(
      names.map((name) =>
        admin.create(RESOURCES.canaries, namespace, {
          metadata: { name, namespace },
          spec: canarySpec(name, { provider: "gatewayapi:v1", analysis: analysis(intervalSeconds) }),
        }),
      ),
    );
    const initialized = await Promise.all(
      names.map((name) =>
        statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized", 180_000),
      ),
    );
    names.forEach((name, i) => {
      fleet.#watched.set(name, { before: initialized[i]?.lastPromotedSpec, phases: [] });
      fleet.#routes.set(name, recordCanaryWeights(namespace, name, admin));
    });
    fleet.#watching = fleet.#watchPhases();
    await waitFor(
      "every route and canary is watched",
      async () =>
        [...fleet.#routes.values()].every((r) => r.weights.length > 0) &&
        [...fleet.#watched.values()].every((w) => w.phases.length > 0)
          ? true
          : undefined,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    return fleet;
  }

  /** Every phase change: each watch resumes where the last ended, so none falls between two. */
  #watchPhases(): Promise<void> {
    return watchWithoutGaps<{ metadata: { name: string; resourceVersion?: string }; status?: CanaryStatus }>(
      RESOURCES.canaries,
      this.namespace,
      {},
      (type, canary) => {
        const watched = this.#watched.get(canary.metadata.name);
        if (!watched || type === "DELETED") return;
        const phase = canary.status?.phase ?? "";
        if (watched.phases.at(-1) !== phase) watched.phases.push(phase);
        if (
          watched.changedAt !== undefined &&
          watched.succeededAt === undefined &&
          phase === "Succeeded" &&
          canary.status?.lastPromotedSpec !== watched.before
        )
          watched.succeededAt = Date.now();
      },
      this.#stop.signal,
    );
  }

  /** Changes the image of the given canaries' targets (default: all): a rollout of each. */
  async changeImages(names: readonly string[] = this.names): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const watched = this.#get(name);
        assert.equal(watched.phases.at(-1), "Initialized", `${name} is Initialized before its rollout`);
        watched.changedAt = Date.now();
        await setImage(this.namespace, name, "example.test/app:2");
      }),
    );
  }

  /** Waits until some canary's route reaches `weight`: the rollouts are under way. */
  async reached(weight: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `a canary at weight ${weight}`,
      async () => ([...this.#routes.values()].some((r) => r.weights.includes(weight)) ? true : undefined),
      { timeoutMs, intervalMs: 50 },
    );
  }

  /** The rollouts begun and not yet Succeeded. */
  underWay(): number {
    return this.names.filter((name) => {
      const { changedAt, succeededAt } = this.#get(name);
      return changedAt !== undefined && succeededAt === undefined;
    }).length;
  }

  /** Waits until every rollout has Succeeded with the new revision, then stops recording. */
  async finished(timeoutMs = 180_000): Promise<void> {
    await waitFor(
      `${this.names.length} rollouts Succeeded`,
      async () => {
        const open = this.names.filter((name) => this.#get(name).succeededAt === undefined);
        if (open.length === 0) return true;
        throw new Error(
          `still rolling: ${open.map((name) => `${name} (${this.#get(name).phases.at(-1)})`).join(", ")}`,
        );
      },
      { timeoutMs, intervalMs: 100 },
    );
    await this.stopWatching();
  }

  /** Every weight step once, and each canary's phases in rollout order with nothing else between. */
  verify(): void {
    for (const name of this.names) {
      const weights = this.#routes.get(name)?.weights;
      assert.deepEqual(weights, EVERY_STEP_ONCE, `${name}: the route's canary weights`);
      const phases = this.#get(name).phases;
      const at = phases.map((p) => ROLLOUT_PHASES.indexOf(p));
      const inOrder = at.every((index, i) => index >= 0 && (i === 0 || index > (at[i - 1] ?? -1)));
      assert.ok(inOrder, `${name}: phases ${phases.join(" → ")} are not a rollout's, in order`);
      assert.equal(phases.at(-1), "Succeeded", `${name}: ends Succeeded`);
    }
  }

  /** Per canary, how much longer its rollout took than its intervals alone (ms). */
  extraMs(): Record<string, number> {
    const ideal = IDEAL_INTERVALS * this.intervalMs;
    return Object.fromEntries(
      this.names.map((name) => {
        const { changedAt, succeededAt } = this.#get(name);
        assert.ok(changedAt !== undefined && succeededAt !== undefined, `${name} has rolled out`);
        return [name, succeededAt - changedAt - ideal];
      }),
    );
  }

  /** One line for the test's output: the extra time of each rollout over its ideal. */
  describeExtra(): string {
    const extra = Object.values(this.extraMs()).sort((a, b) => a - b);
    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    const median = extra[Math.floor(extra.length / 2)] ?? 0;
    return (
      `extra over the ideal ${seconds(IDEAL_INTERVALS * this.intervalMs)}s per rollout: ` +
      `median ${seconds(median)}s, max ${seconds(extra.at(-1) ?? 0)}s ` +
      `(all, sorted: ${extra.map(seconds).join(", ")})`
    );
  }

  async stopWatching(): Promise<void> {
    this.#stop.abort();
    await Promise.all([this.#watching, ...[...this.#routes.values()].map((r) => r.stop())]);
  }

  #get(name: string): Watched {
    const watched = this.#watched.get(name);
    if (!watched) throw new Error(`${name} is not in the fleet`);
    return watched;
  }
}

/**
 * Deletes every Canary of the namespace and waits until they are gone: while the operators still
 * run, as their finalizers need them, so that the namespace can go afterwards.
 */
export async function removeCanaries(namespace: string): Promise<void> {
  const { items } = await admin.list<{ metadata: { name: string } }>(RESOURCES.canaries, namespace);
  await Promise.all(items.map((c) => admin.delete(RESOURCES.canaries, namespace, c.metadata.name)));
  await waitFor(
    `the canaries of ${namespace} deleted`,
    async () => ((await admin.list(RESOURCES.canaries, namespace)).items.length === 0 ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

export interface Work {
  /** Workflow tasks completed. */
  workflowTasks: number;
  /** Local activities, run inside those workflow tasks. */
  localActivities: number;
  /** Regular activities (their last attempt). */
  activities: number;
}

const LOCAL_ACTIVITY_MARKER = "core_local_activity";

/** Adds one history's work to `work`, by the worker identity that did it. */
function countWork(events: readonly HistoryEvent[], work: Map<string, Work>): void {
  const of = (identity: string | null | undefined): Work => {
    const key = identity || "(no identity)";
    let entry = work.get(key);
    if (!entry) {
      entry = { workflowTasks: 0, localActivities: 0, activities: 0 };
      work.set(key, entry);
    }
    return entry;
  };
  // A local activity's marker is written by the workflow task that ran it, which completes just before.
  let taskIdentity: string | null | undefined;
  for (const event of events) {
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        taskIdentity = event.workflowTaskCompletedEventAttributes?.identity;
        of(taskIdentity).workflowTasks++;
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        if (event.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER)
          of(taskIdentity).localActivities++;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        of(event.activityTaskStartedEventAttributes?.identity).activities++;
        break;
    }
  }
}

/**
 * The work of the canaries' workflows (every run, following continue-as-new back from the
 * latest), by the process that did it. Measurement only: the product is driven through Kubernetes.
 */
export async function workPerProcess(
  client: Client,
  topology: Topology,
  names: readonly string[],
): Promise<Map<string, Work>> {
  const byIdentity = new Map<string, Work>();
  for (const name of names) {
    const id = workflowId(topology.namespace, name);
    let runId: string | undefined;
    for (let run = 0; run < 100; run++) {
      const history = await client.workflow.getHandle(id, runId).fetchHistory();
      const events = history.events ?? [];
      countWork(events, byIdentity);
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
      if (!runId) break;
    }
  }
  const byProcess = new Map<string, Work>();
  for (const [identity, work] of byIdentity) {
    const name = topology.nameOf(identity);
    const sum = byProcess.get(name) ?? { workflowTasks: 0, localActivities: 0, activities: 0 };
    sum.workflowTasks += work.workflowTasks;
    sum.localActivities += work.localActivities;
    sum.activities += work.activities;
    byProcess.set(name, sum);
  }
  return byProcess;
}

/** A client for reading histories; close its connection when done. */
export async function historyReader(temporal: TemporalTarget): Promise<Client> {
  const connection = await Connection.connect({ address: temporal.address });
  return new Client({ connection, namespace: temporal.namespace });
}
