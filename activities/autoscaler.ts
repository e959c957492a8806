/**
 * The primary's HorizontalPodAutoscaler (autoscaling/v2): a copy of the target's, scaling the
 * primary, with `primaryScalerReplicas` overriding its bounds. Changes to the target's HPA reach
 * the primary's at initialization and promotion, as in Flagger. The target's own HPA needs no
 * pausing: the HPA controller leaves a workload scaled to zero alone, and resumes when the canary
 * is scaled up. A KEDA ScaledObject does need it (keda.ts).
 */
import type { V1ObjectMeta, V2HorizontalPodAutoscaler } from "@kubernetes/client-node";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import type { CanaryIdentity } from "../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../src/kube/resources.ts";
import { holdsAll } from "./applied-already.ts";
import { required } from "./errors.ts";
import { AUTOSCALER_FIELDS, takeFlaggerFields } from "./flagger-fields.ts";
import { buildPrimaryScaledObject, type ScaledObject, setTargetScaledObjectPaused } from "./keda.ts";
import { adopt, checkWritable } from "./ownership.ts";
import { workloadType } from "./workload.ts";
import { includedLabels, primaryName } from "./workload-primary.ts";

/** The primary HPA's apply configuration. */
export function buildPrimaryAutoscaler(
  hpa: V2HorizontalPodAutoscaler,
  spec: Pick<ResolvedCanarySpec, "targetRef" | "autoscalerRef">,
  includeLabelPrefixes: readonly string[],
): V2HorizontalPodAutoscaler {
  const bounds = spec.autoscalerRef?.primaryScalerReplicas;
  const type = workloadType(spec.targetRef.kind);
  return {
    metadata: {
      name: primaryName(hpa.metadata?.name ?? ""),
      namespace: hpa.metadata?.namespace,
      labels: includedLabels(hpa.metadata?.labels, includeLabelPrefixes),
      // Filtered like the labels, as Flagger does: the copy Flagger made (a Helm chart's release
      // annotations left out) already holds them, and a takeover writes nothing.
      annotations: includedLabels(hpa.metadata?.annotations, includeLabelPrefixes),
    },
    spec: {
      ...hpa.spec,
      scaleTargetRef: {
        apiVersion: `${type.group}/${type.version}`,
        kind: spec.targetRef.kind,
        name: primaryName(spec.targetRef.name),
      },
      minReplicas: bounds?.minReplicas ?? hpa.spec?.minReplicas,
      maxReplicas: bounds?.maxReplicas ?? hpa.spec?.maxReplicas ?? 1,
    },
  };
}

/** Creates or updates the primary's autoscaler (an HPA, or a ScaledObject) when the Canary has an autoscalerRef. */
export async function applyPrimaryAutoscaler(
  kube: KubeClient,
  namespace: string,
  spec: ResolvedCanarySpec,
  includeLabelPrefixes: readonly string[],
  owner: CanaryIdentity,
): Promise<void> {
  const ref = spec.autoscalerRef;
  if (!ref) return;
  if (ref.kind === "ScaledObject") {
    const build = (target: ScaledObject) => buildPrimaryScaledObject(target, spec, includeLabelPrefixes);
    await applyPrimaryCopy(kube, namespace, RESOURCES.scaledObjects, ref.name, build, owner);
  } else {
    const build = (hpa: V2HorizontalPodAutoscaler) => buildPrimaryAutoscaler(hpa, spec, includeLabelPrefixes);
    await applyPrimaryCopy(kube, namespace, RESOURCES.horizontalPodAutoscalers, ref.name, build, owner);
  }
}

/** Reads the target's autoscaler and writes its `-primary` copy, unless the copy already is as built. */
async function applyPrimaryCopy<T extends { metadata?: V1ObjectMeta }>(
  kube: KubeClient,
  namespace: string,
  type: ResourceType,
  targetName: string,
  build: (target: T) => T,
  owner: CanaryIdentity,
): Promise<void> {
  const target = await required(
    kube.get<T>(type, namespace, targetName),
    `${type.kind} ${namespace}/${targetName} (spec.autoscalerRef)`,
    "create it, or remove spec.autoscalerRef",
  );
  const desired = build(target);
  const name = desired.metadata?.name ?? "";
  const existing = await kube.find<T>(type, namespace, name);
  checkWritable(kube, existing, { kind: type.kind, namespace, name }, owner, {
    fix: `delete it, or rename the ${type.kind} ${targetName}`,
  });
  // Already as wanted (one Flagger made, a repeated promotion): nothing is written.
  let applied: T;
  if (existing && holdsAll(existing, desired)) applied = existing;
  else {
    await takeFlaggerFields(kube, type, existing, AUTOSCALER_FIELDS);
    applied = await kube.apply<T>(type, namespace, name, desired);
  }
  await adopt(kube, type, applied, owner);
}

/**
 * Before the canary is scaled to zero (`paused`) or back up: a ScaledObject would fight either
 * move, so it is paused at zero replicas, and resumed first. An HPA needs nothing.
 */
export async function setTargetAutoscalerPaused(
  kube: KubeClient,
  namespace: string,
  spec: Pick<ResolvedCanarySpec, "autoscalerRef">,
  paused: boolean,
): Promise<void> {
  const ref = spec.autoscalerRef;
  if (ref?.kind !== "ScaledObject") return;
  await setTargetScaledObjectPaused(kube, namespace, ref.name, paused);
}
