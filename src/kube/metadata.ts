/**
 * Labels, annotations, finalizers and owner references the operator reads and writes. Keys users
 * put in their manifests keep Flagger's names so existing manifests behave the same; keys only
 * the operator writes use its own prefix.
 */
import type { V1OwnerReference, V1PodSpec } from "@kubernetes/client-node";
import { API_VERSION } from "../api/canary.ts";

/** Flagger's finalizer name, so Canaries migrated from Flagger are released on deletion too. */
export const CANARY_FINALIZER = "finalizer.flagger.app";

/** On a ConfigMap or Secret: "disabled" shares it with the primary instead of copying it. */
export const CONFIG_TRACKING_ANNOTATION = "flagger.app/config-tracking";

/** The spec and metadata of a routing object or Service from before the operator took it over. */
export const ORIGINAL_CONFIGURATION_ANNOTATION = "durable-canary.io/original-configuration";

/** On the primary's pod template: the revision it runs, so a promotion restarts pods even when only configs changed. */
export const REVISION_ANNOTATION = "durable-canary.io/revision";

/**
 * A DaemonSet cannot scale to zero, so a node selector no node matches stands in for zero
 * replicas. Flagger's key is recognised too, for DaemonSets it scaled down before a migration.
 */
export const SCALE_TO_ZERO_NODE_SELECTOR = "durable-canary.io/scale-to-zero";
export const SCALE_TO_ZERO_NODE_SELECTORS: readonly string[] = [
  SCALE_TO_ZERO_NODE_SELECTOR,
  "flagger.app/scale-to-zero",
];

/** The pod spec without the scale-to-zero node selector (the same object when it has none). */
export function withoutScaleToZero(spec: V1PodSpec): V1PodSpec {
  const selector = spec.nodeSelector;
  if (!selector || !SCALE_TO_ZERO_NODE_SELECTORS.some((key) => key in selector)) return spec;
  const nodeSelector = Object.fromEntries(
    Object.entries(selector).filter(([key]) => !SCALE_TO_ZERO_NODE_SELECTORS.includes(key)),
  );
  return { ...spec, nodeSelector: Object.keys(nodeSelector).length > 0 ? nodeSelector : undefined };
}

/** Labels Flagger matches a workload's pods by, in order of preference (its --selector-labels default). */
export const DEFAULT_SELECTOR_LABELS = ["app", "name", "app.kubernetes.io/name"] as const;

/**
 * Metadata GitOps tools use to track what they applied. Copying it to generated objects would
 * make Flux prune (or Argo CD claim) the primary, so it never is.
 */
export function isToolingMetadata(key: string): boolean {
  return (
    key.includes("toolkit.fluxcd.io") ||
    key === "kubectl.kubernetes.io/last-applied-configuration" ||
    key === "argocd.argoproj.io/tracking-id" ||
    key === "deployment.kubernetes.io/revision" ||
    key === "deprecated.daemonset.template.generation"
  );
}

export interface CanaryIdentity {
  readonly name: string;
  readonly uid: string;
}

/** Makes the Canary the controller of a generated object, so deleting the Canary deletes it. */
export function canaryOwnerReference(canary: CanaryIdentity): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "Canary",
    name: canary.name,
    uid: canary.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isOwnedBy(
  object: { metadata?: { ownerReferences?: V1OwnerReference[] } },
  uid: string,
): boolean {
  return (object.metadata?.ownerReferences ?? []).some((ref) => ref.uid === uid);
}
