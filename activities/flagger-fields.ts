/**
 * Fields Flagger set on the objects it made (the primary workload and its config copies, the
 * Services, the primary's autoscaler), handed to this operator at its first write to each. A
 * server-side apply removes only the fields its own manager set before: without this, a label,
 * annotation, environment variable, container or port that the target or the spec dropped after
 * Flagger's last write would stay for good. Only the parts the operator's apply writes in full are
 * taken (per kind, below); what it leaves to others (replicas, owner references, a Service's
 * type) stays Flagger's. Taken before the write, not at adoption, which writes nothing.
 */
import type { V1ManagedFieldsEntry, V1ObjectMeta } from "@kubernetes/client-node";
import type { KubeClient } from "../src/kube/client.ts";
import { apiVersionOf, type ResourceType } from "../src/kube/resources.ts";
import { retryOnConflict } from "../src/kube/retry.ts";

/** The manager the API server records for Flagger's updates: its user agent's product name. */
export const FLAGGER_FIELD_MANAGER = "flagger";

/** A managedFields field set (FieldsV1): nested objects keyed by `f:name`, `k:{...}`, `v:...`, `.`. */
type FieldSet = { readonly [key: string]: FieldSet };

/** Which subtrees of a field set to take: `true` takes a whole subtree. */
export type FieldMask = { readonly [key: string]: FieldMask | true };

const METADATA: FieldMask = { "f:labels": true, "f:annotations": true };
/** A primary workload: its pod template, labels and annotations. */
export const WORKLOAD_FIELDS: FieldMask = { "f:metadata": METADATA, "f:spec": { "f:template": true } };
/** A config copy: its data, labels and annotations. */
export const CONFIG_FIELDS: FieldMask = { "f:metadata": METADATA, "f:data": true, "f:binaryData": true };
/** A Service: its selector, ports, labels and annotations. */
export const SERVICE_FIELDS: FieldMask = {
  "f:metadata": METADATA,
  "f:spec": { "f:selector": true, "f:ports": true },
};
/** The primary's HPA or ScaledObject: its whole spec, labels and annotations. */
export const AUTOSCALER_FIELDS: FieldMask = { "f:metadata": METADATA, "f:spec": true };

function union(a: FieldSet, b: FieldSet): FieldSet {
  const out: Record<string, FieldSet> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const mine = out[key];
    out[key] = mine === undefined ? value : union(mine, value);
  }
  return out;
}

/** `set` split by `mask`: the fields it selects, and the rest. */
function split(set: FieldSet, mask: FieldMask): { taken: FieldSet; kept: FieldSet } {
  const taken: Record<string, FieldSet> = {};
  const kept: Record<string, FieldSet> = {};
  for (const [key, value] of Object.entries(set)) {
    const selector = mask[key];
    if (selector === true) taken[key] = value;
    else if (selector === undefined || Object.keys(value).length === 0) kept[key] = value;
    else {
      const inner = split(value, selector);
      if (Object.keys(inner.taken).length > 0) taken[key] = inner.taken;
      // A parent's own marker (".") or nothing left: the parent stays with whoever keeps children.
      if (Object.keys(inner.kept).length > 0) kept[key] = inner.kept;
    }
  }
  return { taken, kept };
}

/**
 * The object's managedFields with the masked part of Flagger's entries for the object itself (not
 * its status or scale) merged into this operator's apply entry, or undefined when there is none.
 */
export function managedFieldsTakingFlaggers(
  managedFields: readonly V1ManagedFieldsEntry[],
  mask: FieldMask,
  manager: string,
  apiVersion: string,
): V1ManagedFieldsEntry[] | undefined {
  const main = (entry: V1ManagedFieldsEntry) => entry.subresource === undefined || entry.subresource === "";
  const flaggers = managedFields.filter((e) => main(e) && e.manager === FLAGGER_FIELD_MANAGER);
  const parts = flaggers.map((entry) => ({ entry, ...split((entry.fieldsV1 ?? {}) as FieldSet, mask) }));
  if (parts.every((p) => Object.keys(p.taken).length === 0)) return undefined;
  const isOurApply = (e: V1ManagedFieldsEntry) => main(e) && e.manager === manager && e.operation === "Apply";
  const taken = [
    ...managedFields.filter(isOurApply).map((e) => (e.fieldsV1 ?? {}) as FieldSet),
    ...parts.map((p) => p.taken),
  ].reduce(union, {});
  const remaining = parts
    .filter((p) => Object.keys(p.kept).length > 0)
    .map((p) => ({ ...p.entry, fieldsV1: p.kept }));
  return [
    ...managedFields.filter((e) => !flaggers.includes(e) && !isOurApply(e)),
    ...remaining,
    { manager, operation: "Apply", apiVersion, fieldsType: "FieldsV1", fieldsV1: taken },
  ];
}

/**
 * Before this operator's first write to a copy Flagger made: Flagger's fields under `mask` become
 * its own. The patch carries the resourceVersion read, so an object changed meanwhile (a status
 * update) is a conflict, read again and retried, never an entry lost.
 */
export async function takeFlaggerFields(
  kube: KubeClient,
  type: ResourceType,
  existing: { metadata?: V1ObjectMeta } | undefined,
  mask: FieldMask,
): Promise<void> {
  const namespace = existing?.metadata?.namespace ?? "";
  const name = existing?.metadata?.name;
  if (name === undefined) return;
  let current = existing;
  await retryOnConflict(async () => {
    current ??= await kube.find<{ metadata?: V1ObjectMeta }>(type, namespace, name);
    const metadata = current?.metadata;
    current = undefined;
    if (!metadata?.resourceVersion) return;
    const managedFields = managedFieldsTakingFlaggers(
      metadata.managedFields ?? [],
      mask,
      kube.fieldManager,
      apiVersionOf(type),
    );
    if (managedFields === undefined) return;
    await kube.jsonPatch(type, namespace, name, [
      { op: "replace", path: "/metadata/resourceVersion", value: metadata.resourceVersion },
      { op: "replace", path: "/metadata/managedFields", value: managedFields },
    ]);
  });
}
