/**
 * What the controller does about one Canary, decided from what its informers hold: pure
 * functions, so every rule is unit-tested without a cluster or Temporal. The controller never
 * decides rollout logic; it validates, computes the target revision and tells the workflow.
 */
import type { V1DaemonSet, V1Deployment, V1Service } from "@kubernetes/client-node";
import { type CanaryStatus, type TargetType, targetTypeOf } from "../api/canary.ts";
import { type DefaultsOptions, type ResolvedCanarySpec, resolveWebhook } from "../api/defaults.ts";
import { validateCanary } from "../api/validate.ts";
import {
  type ConfigKind,
  type ConfigObject,
  computeRevision,
  configChecksum,
  configKey,
  configRefs,
  isTrackingDisabled,
} from "../kube/configs.ts";
import { CANARY_FINALIZER } from "../kube/metadata.ts";
import { serviceRevision } from "../kube/service-revision.ts";
import type { CommandMetadata } from "./commands.ts";

export interface CanaryObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid?: string;
    readonly generation?: number;
    readonly deletionTimestamp?: string | Date;
    readonly finalizers?: readonly string[];
    readonly annotations?: Readonly<Record<string, string>>;
    readonly managedFields?: CommandMetadata["managedFields"];
  };
  readonly spec?: unknown;
  readonly status?: CanaryStatus;
}

export type Workload = V1Deployment | V1DaemonSet;

/** A Knative Service as the controller reads it: Knative names each revision it creates. */
export interface KnativeServiceObject {
  readonly status?: { readonly latestCreatedRevisionName?: string };
}

export type TargetObject = Workload | KnativeServiceObject | V1Service;

/** Condition reasons the controller writes; the workflow writes phases as reasons. */
export const PROBLEM_REASONS = { invalidSpec: "InvalidSpec", targetNotFound: "TargetNotFound" } as const;
export type ProblemReason = (typeof PROBLEM_REASONS)[keyof typeof PROBLEM_REASONS];
/** The reason of the Warning Events that carry validation's warnings (the rollout goes on). */
export const SPEC_WARNING_REASON = "SpecWarning";

export interface ReconcileInput {
  readonly canary: CanaryObject;
  /** The target (a workload, a Knative or a Kubernetes Service) from the informer cache, when it exists. */
  readonly target: (type: TargetType, name: string) => TargetObject | undefined;
  readonly config: (kind: ConfigKind, name: string) => ConfigObject | undefined;
  readonly configTracking: boolean;
  readonly defaults: DefaultsOptions;
  readonly policy: OperatorPolicy;
  /** Milliseconds since the epoch. */
  readonly nowMs: number;
  /** How long a deleted Canary waits for its workflow to finalize before the controller lets it go. */
  readonly finalizeTimeoutMs: number;
}

/** Operator-wide rules the controller applies to every Canary (Flagger's flags of the same names). */
export interface OperatorPolicy {
  /** --event-webhook: receives the events of every Canary that declares no event webhook. */
  readonly eventWebhook: string | undefined;
  /** False with --no-cross-namespace-refs: MetricTemplates and AlertProviders must be in the Canary's namespace. */
  readonly crossNamespaceRefs: boolean;
}

export type Decision =
  /** Status gets the problem, and an Event when it is new; the workflow hears nothing. */
  | { readonly kind: "problem"; readonly reason: ProblemReason; readonly message: string }
  /** Tell the workflow (signal-with-start); add the finalizer first when revertOnDeletion asks for it. */
  | {
      readonly kind: "revision";
      readonly revision: string;
      readonly spec: ResolvedCanarySpec;
      readonly generation: number;
      readonly addFinalizer: boolean;
      /** The status shows a problem this controller wrote, which is gone now. */
      readonly resyncStatus: boolean;
      readonly warnings: readonly string[];
    }
  /** Being deleted with our finalizer: the workflow finalizes, or the controller lets it go. */
  | { readonly kind: "finalize"; readonly giveUpInMs: number }
  /** Being deleted, nothing of ours holds it; or a Knative Service Knative has made no revision of yet. */
  | { readonly kind: "none" };

export function reconcileCanary(input: ReconcileInput): Decision {
  const { canary } = input;
  const meta = canary.metadata;
  if (meta.deletionTimestamp !== undefined) {
    if (!meta.finalizers?.includes(CANARY_FINALIZER)) return { kind: "none" };
    const since = new Date(meta.deletionTimestamp).getTime();
    return { kind: "finalize", giveUpInMs: Math.max(0, since + input.finalizeTimeoutMs - input.nowMs) };
  }
  const validation = validateCanary(canary.spec, input.defaults);
  if (!validation.ok) {
    return {
      kind: "problem",
      reason: PROBLEM_REASONS.invalidSpec,
      message: `invalid spec: ${validation.errors.join("; ")}`,
    };
  }
  const crossNamespace = input.policy.crossNamespaceRefs
    ? []
    : crossNamespaceRefs(validation.spec, meta.namespace);
  if (crossNamespace.length > 0) {
    return {
      kind: "problem",
      reason: PROBLEM_REASONS.invalidSpec,
      message:
        `invalid spec: ${crossNamespace.join("; ")}: this operator forbids references to other namespaces ` +
        "(--no-cross-namespace-refs); move the object into the Canary's namespace",
    };
  }
  const spec = withEventWebhook(validation.spec, input.policy.eventWebhook);
  const { name } = spec.targetRef;
  const type = targetTypeOf(spec.targetRef);
  const target = input.target(type, name);
  if (!target) {
    const what = type === "KnativeService" ? "Knative Service" : type;
    return {
      kind: "problem",
      reason: PROBLEM_REASONS.targetNotFound,
      message: `${what} ${meta.namespace}/${name} (spec.targetRef) not found: create it, or point spec.targetRef.name at an existing ${what}`,
    };
  }
  // A Knative Service's revisions are Knative's: each new one it creates is a rollout, as in Flagger.
  // A Kubernetes Service's revision is its spec, as in Flagger: nothing behind it is the operator's.
  const revision =
    type === "KnativeService"
      ? (target as KnativeServiceObject).status?.latestCreatedRevisionName
      : type === "Service"
        ? serviceRevision(target as V1Service)
        : targetRevision(target as Workload, input.config, input.configTracking);
  // Knative names the first revision moments after the Service is created; that status update brings the Canary back.
  if (revision === undefined) return { kind: "none" };
  const shownProblem = promotedCondition(canary.status)?.reason;
  return {
    kind: "revision",
    revision,
    spec,
    generation: meta.generation ?? 0,
    addFinalizer: spec.revertOnDeletion && !meta.finalizers?.includes(CANARY_FINALIZER),
    resyncStatus:
      shownProblem === PROBLEM_REASONS.invalidSpec || shownProblem === PROBLEM_REASONS.targetNotFound,
    warnings: validation.warnings,
  };
}

/** References to MetricTemplates and AlertProviders in a namespace other than the Canary's. */
export function crossNamespaceRefs(spec: ResolvedCanarySpec, namespace: string): string[] {
  const found: string[] = [];
  spec.analysis.metrics.forEach((metric, i) => {
    const ns = metric.templateRef?.namespace;
    if (ns !== undefined && ns !== namespace)
      found.push(`analysis.metrics[${i}].templateRef refers to namespace ${ns}`);
  });
  spec.analysis.alerts.forEach((alert, i) => {
    const ns = alert.providerRef.namespace;
    if (ns !== undefined && ns !== namespace)
      found.push(`analysis.alerts[${i}].providerRef refers to namespace ${ns}`);
  });
  return found;
}

/** The operator's event webhook, for a Canary that declares none of its own. */
export function withEventWebhook(spec: ResolvedCanarySpec, url: string | undefined): ResolvedCanarySpec {
  if (url === undefined || spec.analysis.webhooks.some((w) => w.type === "event")) return spec;
  const webhook = resolveWebhook({ name: "event-webhook", type: "event", url });
  return { ...spec, analysis: { ...spec.analysis, webhooks: [...spec.analysis.webhooks, webhook] } };
}

/** The target a Canary names, read leniently (before validation), for routing watch events. */
export function targetRefOf(
  canary: CanaryObject,
): { readonly type: TargetType; readonly name: string } | undefined {
  const ref = (
    canary.spec as { targetRef?: { kind?: unknown; name?: unknown; apiVersion?: unknown } } | undefined
  )?.targetRef;
  if (typeof ref?.name !== "string") return undefined;
  const kind = ref.kind === "DaemonSet" || ref.kind === "Service" ? ref.kind : "Deployment";
  const apiVersion = typeof ref.apiVersion === "string" ? ref.apiVersion : undefined;
  return { type: targetTypeOf({ kind, apiVersion }), name: ref.name };
}

/**
 * The revision of a target as the informers see it: its pod template and the checksums of the
 * ConfigMaps and Secrets it tracks (none when config tracking is off; opted-out and missing
 * ones do not count), the same hash the activities compute from a GET of each.
 */
export function targetRevision(
  workload: Workload,
  config: ReconcileInput["config"],
  configTracking: boolean,
): string {
  const template = workload.spec?.template;
  const checksums: Record<string, string> = {};
  if (configTracking) {
    for (const ref of configRefs(template?.spec)) {
      const object = config(ref.kind, ref.name);
      if (object && !isTrackingDisabled(object)) checksums[configKey(ref)] = configChecksum(object);
    }
  }
  return computeRevision(template, checksums);
}

export function promotedCondition(status: CanaryStatus | undefined) {
  return status?.conditions?.find((c) => c.type === "Promoted");
}

/** Whether the status already shows this problem (then nothing is written and no Event repeats). */
export function showsProblem(
  status: CanaryStatus | undefined,
  reason: ProblemReason,
  message: string,
): boolean {
  const condition = promotedCondition(status);
  return (
    status?.phase === "Failed" &&
    condition?.status === "False" &&
    condition.reason === reason &&
    condition.message === message
  );
}

/** The merge patch of `.status` that shows a problem: phase Failed and the Promoted condition saying why. */
export function problemStatusPatch(
  status: CanaryStatus | undefined,
  reason: ProblemReason,
  message: string,
  now: string,
): Pick<CanaryStatus, "phase" | "conditions" | "lastTransitionTime"> {
  const before = promotedCondition(status);
  return {
    phase: "Failed",
    lastTransitionTime: status?.phase === "Failed" ? (status.lastTransitionTime ?? now) : now,
    conditions: [
      ...(status?.conditions ?? []).filter((c) => c.type !== "Promoted"),
      {
        type: "Promoted",
        status: "False",
        reason,
        message,
        lastUpdateTime: now,
        lastTransitionTime: before?.status === "False" ? (before.lastTransitionTime ?? now) : now,
      },
    ],
  };
}
