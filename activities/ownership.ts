/**
 * Which objects belong to a Canary. Objects the operator creates get the Canary as owner (so the
 * garbage collector removes them with it), set once by a JSON patch right after creation: later
 * server-side applies never mention ownerReferences and so can never drop them. Objects the user
 * had before (an apex Service, an HTTPRoute) are never owned; their original spec is kept in an
 * annotation so finalize can give them back.
 */
import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { JsonPatchOperation, KubeClient } from "../src/kube/client.ts";
import {
  type CanaryIdentity,
  canaryOwnerReference,
  isOwnedBy,
  ORIGINAL_CONFIGURATION_ANNOTATION,
} from "../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../src/kube/resources.ts";
import type { CanaryRef } from "../workflows/activity-port.ts";
import { invalidSpec, notReady, required } from "./errors.ts";

export interface CanaryObject {
  readonly metadata: V1ObjectMeta & { readonly name: string; readonly uid: string };
  readonly status?: { readonly lastAppliedSpec?: string; readonly lastPromotedSpec?: string };
}

/** The Canary itself: its UID makes owner references. Gone means the workflow has nothing to act on. */
export async function readCanary(kube: KubeClient, ref: CanaryRef): Promise<CanaryObject> {
  return required(
    kube.get<CanaryObject>(RESOURCES.canaries, ref.namespace, ref.name),
    `Canary ${ref.namespace}/${ref.name}`,
    "it was deleted; recreate it to resume",
  );
}

export function identityOf(canary: CanaryObject): CanaryIdentity {
  return { name: canary.metadata.name, uid: canary.metadata.uid };
}

type Metadata = { metadata?: V1ObjectMeta };

/**
 * Makes the Canary an owner of `object` unless it already is. `controller` is false for objects
 * several Canaries may share (config copies). `extra` operations ride along in the same request.
 */
export async function adopt(
  kube: KubeClient,
  type: ResourceType,
  object: Metadata,
  owner: CanaryIdentity,
  options: { controller?: boolean; extra?: readonly JsonPatchOperation[] } = {},
): Promise<void> {
  const extra = options.extra ?? [];
  const owned = isOwnedBy(object, owner.uid);
  if (owned && extra.length === 0) return;
  const reference = { ...canaryOwnerReference(owner), controller: options.controller ?? true };
  const existing = object.metadata?.ownerReferences;
  const ownership: JsonPatchOperation[] = owned
    ? []
    : existing && existing.length > 0
      ? [{ op: "add", path: "/metadata/ownerReferences/-", value: reference }]
      : [{ op: "add", path: "/metadata/ownerReferences", value: [reference] }];
  await kube.jsonPatch(type, object.metadata?.namespace ?? "", object.metadata?.name ?? "", [
    ...ownership,
    ...extra,
  ]);
}

/**
 * Before the operator writes a generated object (`<target>-primary`, the `-primary`/`-canary`
 * Services, the primary's autoscaler, `<config>-primary` copies): it must not exist, or be this
 * Canary's. Also accepted: an object the operator created that is owned by nobody (its creation
 * was interrupted before the owner reference was set, or it outlived a Canary deleted with
 * `--cascade=orphan`), and, for `shared` config copies, one another Canary owns. Anything else
 * belongs to someone else: refused, naming the object and `fix`.
 */
export function checkWritable(
  kube: KubeClient,
  existing: (Metadata & { kind?: string }) | undefined,
  what: { readonly kind: string; readonly namespace: string; readonly name: string },
  owner: CanaryIdentity,
  options: { readonly fix: string; readonly shared?: boolean },
): void {
  if (!existing || isOwnedBy(existing, owner.uid)) return;
  const references = existing.metadata?.ownerReferences ?? [];
  const canaries = references.filter((ref) => ref.kind === "Canary");
  if (options.shared && canaries.length > 0) return;
  const object = `${what.kind} ${what.namespace}/${what.name}`;
  if (canaries.some((ref) => ref.name === owner.name && ref.controller)) {
    // Names are unique: a Canary of this name with another UID was deleted; the collector follows.
    throw notReady(
      `${object} still belongs to a deleted Canary ${what.namespace}/${owner.name}: waiting for the garbage collector to remove it`,
    );
  }
  const createdByOperator = (existing.metadata?.managedFields ?? []).some(
    (entry) => entry.manager === kube.fieldManager && entry.operation === "Apply",
  );
  if (references.length === 0 && createdByOperator) return;
  throw invalidSpec(
    `${object} exists and is not owned by Canary ${what.namespace}/${owner.name}: ${options.fix}`,
  );
}

/** Managed by this Canary: created by it (owned), as opposed to taken over from the user. */
export function isManaged(object: Metadata, owner: CanaryIdentity): boolean {
  return isOwnedBy(object, owner.uid);
}

/** What an object looked like before the operator took it over, if it was taken over. */
export function originalOf<T>(object: Metadata): T | undefined {
  const text = object.metadata?.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/**
 * Before the first change to an object the user created, records `original` on it (once: a
 * recorded original is never overwritten by the operator's own configuration).
 */
export async function recordOriginal(
  kube: KubeClient,
  type: ResourceType,
  object: Metadata,
  owner: CanaryIdentity,
  original: unknown,
): Promise<void> {
  if (isManaged(object, owner) || originalOf(object) !== undefined) return;
  await kube.mergePatch(type, object.metadata?.namespace ?? "", object.metadata?.name ?? "", {
    metadata: {
      resourceVersion: object.metadata?.resourceVersion,
      annotations: { [ORIGINAL_CONFIGURATION_ANNOTATION]: JSON.stringify(original) },
    },
  });
}
