/**
 * The Canary's `.status` as a projection of the workflow's state, in Flagger's shape (phase,
 * canaryWeight, failedChecks, iterations, lastAppliedSpec, lastPromotedSpec, trackedConfigs,
 * lastTransitionTime and the Promoted condition), written through the status subresource; and
 * Kubernetes Events on the Canary.
 *
 * Writes are merge patches preconditioned on the resourceVersion last seen, kept per Canary in
 * this process: a status change costs one request, an unchanged status none, and a concurrent
 * change (a user edit, another worker) makes the write conflict, re-read and retry.
 */
import { createHash, randomUUID } from "node:crypto";
import type { CanaryStatus } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { isNotFound } from "../src/kube/errors.ts";
import { createCanaryEvent } from "../src/kube/events.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import { retryOnConflict } from "../src/kube/retry.ts";
import type { CanaryEvent, CanaryRef, StatusUpdate } from "../workflows/activity-port.ts";
import { promotedConditionStatus } from "../workflows/decisions/phases.ts";
import { invocationId } from "./activity-context.ts";
import { cookieStatus } from "./status-cookies.ts";

type Condition = NonNullable<CanaryStatus["conditions"]>[number];

/**
 * The status after `update`, or undefined when nothing but timestamps would change. Times move
 * only on change: lastTransitionTime when the phase changes, the condition's when its status does.
 */
export function nextStatus(
  previous: CanaryStatus,
  update: StatusUpdate,
  now: string,
  spec?: Pick<ResolvedCanarySpec, "analysis" | "strategy">,
): CanaryStatus | undefined {
  const conditionStatus = promotedConditionStatus(update.phase);
  const before = previous.conditions?.find((c) => c.type === "Promoted");
  const phaseChanged = previous.phase !== update.phase;
  const fields = {
    phase: update.phase,
    canaryWeight: update.canaryWeight,
    failedChecks: update.failedChecks,
    iterations: update.iterations,
    lastAppliedSpec: update.revision ?? previous.lastAppliedSpec,
    lastPromotedSpec: update.lastPromotedRevision ?? previous.lastPromotedSpec,
    ...(spec === undefined ? {} : cookieStatus(previous, update, spec)),
  };
  const lastAnalysis =
    update.metrics?.map((m) => ({
      name: m.name,
      verdict: m.verdict,
      ...(m.value === undefined || !Number.isFinite(m.value) ? {} : { value: m.value }),
    })) ?? previous.lastAnalysis;
  const unchanged =
    !phaseChanged &&
    (Object.keys(fields) as (keyof typeof fields)[]).every((key) => previous[key] === fields[key]) &&
    before?.status === conditionStatus &&
    before.reason === update.phase &&
    before.message === update.message &&
    JSON.stringify(lastAnalysis) === JSON.stringify(previous.lastAnalysis);
  if (unchanged) return undefined;
  const condition: Condition = {
    type: "Promoted",
    status: conditionStatus,
    reason: update.phase,
    message: update.message,
    lastUpdateTime: now,
    lastTransitionTime: before?.status === conditionStatus ? (before.lastTransitionTime ?? now) : now,
  };
  return {
    ...fields,
    ...(lastAnalysis === undefined ? {} : { lastAnalysis }),
    lastTransitionTime:
      phaseChanged || previous.lastTransitionTime === undefined ? now : previous.lastTransitionTime,
    conditions: [...(previous.conditions ?? []).filter((c) => c.type !== "Promoted"), condition],
  };
}

/** A merge patch that makes status.trackedConfigs exactly `checksums` (null removes a key). */
export function trackedConfigsPatch(
  previous: Readonly<Record<string, string>> | undefined,
  checksums: Readonly<Record<string, string>>,
): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = {};
  for (const key of Object.keys(previous ?? {})) if (!(key in checksums)) patch[key] = null;
  for (const [key, value] of Object.entries(checksums)) if (previous?.[key] !== value) patch[key] = value;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

interface CanaryWithStatus {
  readonly metadata: { readonly uid: string; readonly resourceVersion: string };
  readonly status?: CanaryStatus;
}

interface Seen {
  readonly uid: string;
  readonly resourceVersion: string;
  readonly status: CanaryStatus;
}

export class StatusWriter {
  readonly #kube: KubeClient;
  readonly #now: () => number;
  readonly #seen = new Map<string, Seen>();

  constructor(kube: KubeClient, now: () => number = Date.now) {
    this.#kube = kube;
    this.#now = now;
  }

  /** Projects the workflow's state onto `.status`; a deleted Canary is not an error. */
  async sync(
    ref: CanaryRef,
    update: StatusUpdate,
    spec?: Pick<ResolvedCanarySpec, "analysis" | "strategy">,
  ): Promise<void> {
    if (update.reread) this.#seen.delete(key(ref));
    await this.#write(ref, (status) => nextStatus(status, update, new Date(this.#now()).toISOString(), spec));
  }

  async setTrackedConfigs(ref: CanaryRef, checksums: Readonly<Record<string, string>>): Promise<void> {
    await this.#write(ref, (status) => {
      const patch = trackedConfigsPatch(status.trackedConfigs, checksums);
      return patch === undefined ? undefined : ({ trackedConfigs: patch } as CanaryStatus);
    });
  }

  /** The Canary's UID (for Events), from what this process last saw of it or a read. */
  async uid(ref: CanaryRef): Promise<string | undefined> {
    return (this.#seen.get(key(ref)) ?? (await this.#read(ref)))?.uid;
  }

  async #write(ref: CanaryRef, change: (status: CanaryStatus) => CanaryStatus | undefined): Promise<void> {
    await retryOnConflict(async (attempt) => {
      // After a conflict what this process saw is stale: read afresh.
      const seen = (attempt === 1 ? this.#seen.get(key(ref)) : undefined) ?? (await this.#read(ref));
      if (!seen) return;
      const status = change(seen.status);
      if (status === undefined) return;
      try {
        const written = await this.#kube.mergePatch<CanaryWithStatus>(
          RESOURCES.canaries,
          ref.namespace,
          ref.name,
          { metadata: { resourceVersion: seen.resourceVersion }, status },
          "status",
        );
        this.#remember(ref, written);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.#seen.delete(key(ref));
      }
    });
  }

  async #read(ref: CanaryRef): Promise<Seen | undefined> {
    try {
      const canary = await this.#kube.get<CanaryWithStatus>(RESOURCES.canaries, ref.namespace, ref.name);
      return this.#remember(ref, canary);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #remember(ref: CanaryRef, canary: CanaryWithStatus): Seen {
    const seen = {
      uid: canary.metadata.uid,
      resourceVersion: canary.metadata.resourceVersion,
      status: canary.status ?? {},
    };
    this.#seen.set(key(ref), seen);
    return seen;
  }
}

function key(ref: CanaryRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/**
 * Records a Kubernetes Event on the Canary (`kubectl describe canary` shows it). Its name derives
 * from the activity invocation and the event's place in it (`index`, for an activity that records
 * several), so a retried activity records each once.
 */
export async function recordCanaryEvent(
  kube: KubeClient,
  writer: StatusWriter,
  ref: CanaryRef,
  event: CanaryEvent,
  now: () => number = Date.now,
  index = 0,
): Promise<void> {
  const uid = await writer.uid(ref);
  if (uid === undefined) return;
  const invocation = invocationId();
  const id = createHash("sha256")
    .update(invocation === undefined ? randomUUID() : index === 0 ? invocation : `${invocation}#${index}`)
    .digest("hex")
    .slice(0, 16);
  await createCanaryEvent(kube, { ...ref, uid }, event, id, new Date(now()).toISOString());
}
