/**
 * KEDA ScaledObjects (keda.sh/v1alpha1) as the Canary's autoscaler, the way Flagger handles them:
 * the primary gets `<scaledobject>-primary`, a copy of the target's scaling the primary, its
 * trigger queries pointed at the primary; the target's own ScaledObject is paused at zero
 * replicas (KEDA's `paused-replicas` annotation) whenever the canary is scaled to zero, since KEDA
 * would otherwise scale it straight back up, and resumed before the canary is scaled up.
 */
import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import { includedLabels, primaryName, withoutTooling } from "./workload-primary.ts";

/** KEDA holds the ScaledObject's target at this many replicas, and stops scaling it. */
export const PAUSED_REPLICAS_ANNOTATION = "autoscaling.keda.sh/paused-replicas";

/** The parts of a ScaledObject the copy changes; every other field is copied as it is. */
export interface ScaledObject {
  metadata?: V1ObjectMeta;
  spec?: {
    scaleTargetRef?: { name?: string; kind?: string; apiVersion?: string; [field: string]: unknown };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: ScaleTrigger[];
    advanced?: { horizontalPodAutoscalerConfig?: { name?: string; [field: string]: unknown } } & Record<
      string,
      unknown
    >;
    [field: string]: unknown;
  };
}

export interface ScaleTrigger {
  type?: string;
  name?: string;
  metadata?: Record<string, string>;
  [field: string]: unknown;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The primary's trigger: with `primaryScalerQueries`, the query of the trigger of that name is
 * replaced (the others are kept); without, a `query` naming the target, its `-canary` or its
 * `-primary` is rewritten to name `<target>-primary`, Flagger's documented best effort for the
 * common Prometheus queries.
 */
export function primaryTrigger(
  trigger: ScaleTrigger,
  targetName: string,
  queries: Readonly<Record<string, string>> | undefined,
): ScaleTrigger {
  const query = trigger.metadata?.query;
  if (queries !== undefined) {
    const replacement =
      trigger.name !== undefined && Object.hasOwn(queries, trigger.name) ? queries[trigger.name] : undefined;
    return replacement === undefined
      ? trigger
      : { ...trigger, metadata: { ...trigger.metadata, query: replacement } };
  }
  if (query === undefined) return trigger;
  // One pass, so that no name is rewritten twice: `<target>-primary` never becomes `-primary-primary`.
  const names = new RegExp(`${escapeRegExp(targetName)}(?:-canary|-primary)?`, "g");
  return {
    ...trigger,
    metadata: { ...trigger.metadata, query: query.replace(names, primaryName(targetName)) },
  };
}

/** The primary ScaledObject's apply configuration. */
export function buildPrimaryScaledObject(
  scaledObject: ScaledObject,
  spec: Pick<ResolvedCanarySpec, "targetRef" | "autoscalerRef">,
  includeLabelPrefixes: readonly string[],
): ScaledObject {
  const ref = spec.autoscalerRef;
  const source = scaledObject.spec ?? {};
  const bounds = ref?.primaryScalerReplicas;
  const hpaConfig = source.advanced?.horizontalPodAutoscalerConfig;
  // A named HPA would be claimed by both ScaledObjects: the primary's gets its own name.
  const advanced =
    hpaConfig?.name === undefined
      ? source.advanced
      : {
          ...source.advanced,
          horizontalPodAutoscalerConfig: { ...hpaConfig, name: primaryName(hpaConfig.name) },
        };
  const { [PAUSED_REPLICAS_ANNOTATION]: _paused, ...annotations } = withoutTooling(
    scaledObject.metadata?.annotations,
  );
  return {
    metadata: {
      name: primaryName(scaledObject.metadata?.name ?? ""),
      namespace: scaledObject.metadata?.namespace,
      labels: includedLabels(scaledObject.metadata?.labels, includeLabelPrefixes),
      // The target's pause is the operator's own doing: a paused primary would hold the primary at zero.
      annotations,
    },
    spec: {
      ...source,
      scaleTargetRef: { ...source.scaleTargetRef, name: primaryName(spec.targetRef.name) },
      ...(bounds?.minReplicas === undefined ? {} : { minReplicaCount: bounds.minReplicas }),
      ...(bounds?.maxReplicas === undefined ? {} : { maxReplicaCount: bounds.maxReplicas }),
      ...(advanced === undefined ? {} : { advanced }),
      triggers: (source.triggers ?? []).map((trigger) =>
        primaryTrigger(trigger, spec.targetRef.name, ref?.primaryScalerQueries),
      ),
    },
  };
}

/**
 * Pauses (`paused`) or resumes the target's ScaledObject. A merge patch of the one annotation:
 * the user's own edits to the ScaledObject are never overwritten.
 */
export async function setTargetScaledObjectPaused(
  kube: KubeClient,
  namespace: string,
  name: string,
  paused: boolean,
): Promise<void> {
  // A ScaledObject deleted since has nothing to hold back; the next promotion says it is missing.
  const current = await kube.find<ScaledObject>(RESOURCES.scaledObjects, namespace, name);
  const value = current?.metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION];
  if (!current || (paused ? value === "0" : value === undefined)) return;
  await kube.mergePatch(RESOURCES.scaledObjects, namespace, name, {
    metadata: { annotations: { [PAUSED_REPLICAS_ANNOTATION]: paused ? "0" : null } },
  });
}
