/**
 * The life of one routing object for routers that build it from more than the spec (Gloo's
 * Upstreams, APISIX's canary route, Kuma's cluster-wide TrafficRoute): created and owned, or taken
 * over from the user with its original recorded; written only when it does not already read as
 * wanted, so a reconcile with nothing changed writes nothing; on finalize deleted, or given back.
 */
import { isDeepStrictEqual } from "node:util";
import type { KubeClient, KubeObject } from "../../src/kube/client.ts";
import { type CanaryIdentity, ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import { retryOnConflict } from "../../src/kube/retry.ts";
import { adopt, isManaged, originalOf, recordOriginal } from "../ownership.ts";

/** Where an object lives: namespace "" for a cluster-scoped type. */
export interface Placement {
  readonly type: ResourceType;
  readonly namespace: string;
  readonly name: string;
}

/** How a Canary marks the objects it created, as opposed to those it took over. */
export interface Ownership {
  isManaged(object: KubeObject, owner: CanaryIdentity): boolean;
  /** Marks a just-created object as the Canary's. */
  adopt(kube: KubeClient, at: Placement, object: KubeObject, owner: CanaryIdentity): Promise<void>;
  /**
   * Refuses an existing object another live Canary created, before anything is written to it;
   * true when the Canary that created it is gone (deleted, or recreated with a new UID), so this
   * one reclaims it as its own.
   */
  refuseForeign?(kube: KubeClient, object: KubeObject, owner: CanaryIdentity): Promise<boolean>;
}

/** Owner references: the garbage collector deletes the object with its Canary. */
export const OWNER_REFERENCE: Ownership = {
  isManaged: (object, owner) => isManaged(object, owner),
  adopt: (kube, at, object, owner) => adopt(kube, at.type, object, owner),
};

export interface ObjectOptions {
  readonly ownership?: Ownership;
  /** The top-level fields the operator writes, recorded from a taken-over object and given back. */
  readonly fields?: readonly string[];
}

/**
 * Creates, updates or takes over the object. `build(current)` gets the object when this Canary
 * wrote it before (created or taken over), to keep its weights; undefined otherwise.
 */
export async function reconcileObject(
  kube: KubeClient,
  owner: CanaryIdentity,
  at: Placement,
  build: (current: KubeObject | undefined) => KubeObject,
  options: ObjectOptions = {},
): Promise<void> {
  const ownership = options.ownership ?? OWNER_REFERENCE;
  const existing = await kube.find(at.type, at.namespace, at.name);
  const reclaimed =
    existing !== undefined && ((await ownership.refuseForeign?.(kube, existing, owner)) ?? false);
  if (existing && reclaimed) await ownership.adopt(kube, at, existing, owner);
  const managed = existing !== undefined && (reclaimed || ownership.isManaged(existing, owner));
  const ours = existing !== undefined && (managed || originalOf(existing) !== undefined);
  const desired = build(ours ? existing : undefined);
  if (existing && !managed) {
    const fields = options.fields ?? ["spec"];
    await recordOriginal(kube, at.type, existing, owner, pick(existing, fields));
  }
  if (existing && reads(existing, desired)) return;
  const applied = await kube.apply(at.type, at.namespace, at.name, desired);
  if (!existing) await ownership.adopt(kube, at, applied, owner);
}

/** Deletes the object if the Canary created it; gives it back if it was taken over. */
export async function finalizeObject(
  kube: KubeClient,
  owner: CanaryIdentity,
  at: Placement,
  options: ObjectOptions = {},
): Promise<void> {
  const ownership = options.ownership ?? OWNER_REFERENCE;
  await retryOnConflict(async () => {
    const existing = await kube.find(at.type, at.namespace, at.name);
    if (!existing) return;
    const original = originalOf<Record<string, unknown>>(existing);
    if (original) {
      const annotations = { ...existing.metadata?.annotations };
      delete annotations[ORIGINAL_CONFIGURATION_ANNOTATION];
      const restored: KubeObject = { ...existing, metadata: { ...existing.metadata, annotations } };
      for (const field of options.fields ?? ["spec"]) {
        if (original[field] === undefined) delete restored[field];
        else restored[field] = original[field];
      }
      await kube.replace(at.type, at.namespace, at.name, restored);
    } else if (ownership.isManaged(existing, owner)) {
      await kube.delete(at.type, at.namespace, at.name);
    }
  });
}

function pick(object: KubeObject, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((field) => [field, object[field]]));
}

/**
 * Whether the object already says what `desired` says: the same top-level fields, and every label
 * and annotation it sets. Others may add labels and annotations; fields others add to the spec
 * make it differ, and the (then harmless) apply goes ahead.
 */
function reads(existing: KubeObject, desired: KubeObject): boolean {
  // As sent: a JSON round trip drops the undefined values apply never sends.
  const { apiVersion, kind, metadata, ...content } = JSON.parse(JSON.stringify(desired)) as KubeObject;
  const contains = (have: Record<string, string> | undefined, want: Record<string, string> | undefined) =>
    Object.entries(want ?? {}).every(([key, value]) => have?.[key] === value);
  return (
    Object.entries(content).every(([field, value]) => isDeepStrictEqual(existing[field], value)) &&
    contains(existing.metadata?.labels, metadata?.labels) &&
    contains(existing.metadata?.annotations, metadata?.annotations)
  );
}
