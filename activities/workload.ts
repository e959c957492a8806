/**
 * Effects on workloads (Deployment and DaemonSet targets and their primaries): reading the target,
 * creating and promoting the primary with its config copies, scaling, and waiting for readiness
 * with a watch.
 */
import type { V1DaemonSet, V1Deployment, V1Pod, V2HorizontalPodAutoscaler } from "@kubernetes/client-node";
import type { TargetKind } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { computeRevision, type PodConfigs, readPodConfigs, trackedChecksums } from "../src/kube/configs.ts";
import { isForbidden } from "../src/kube/errors.ts";
import type { CanaryIdentity } from "../src/kube/metadata.ts";
import { SCALE_TO_ZERO_NODE_SELECTOR, SCALE_TO_ZERO_NODE_SELECTORS } from "../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../src/kube/resources.ts";
import type { WaitControl } from "./activity-context.ts";
import { invalidSpec, required, targetNotFound } from "./errors.ts";
import { adopt, checkWritable } from "./ownership.ts";
import {
  buildConfigCopy,
  buildPrimary,
  primaryName,
  type SelectorLabel,
  selectorLabel,
  type Workload,
} from "./workload-primary.ts";
import {
  daemonSetReadiness,
  deploymentReadiness,
  podProblems,
  type Readiness,
} from "./workload-readiness.ts";

/** Operator-wide settings, Flagger's command-line flags of the same names. */
export interface WorkloadSettings {
  /** --selector-labels: labels that identify a workload's pods, in order of preference. */
  readonly selectorLabels: readonly string[];
  /** --include-label-prefix: prefixes of workload labels copied to generated objects ("*" for all). */
  readonly includeLabelPrefixes: readonly string[];
  /** --enable-config-tracking: copy referenced ConfigMaps and Secrets for the primary. */
  readonly configTracking: boolean;
}

export function workloadType(kind: TargetKind): ResourceType {
  return kind === "DaemonSet" ? RESOURCES.daemonSets : RESOURCES.deployments;
}

type TargetSpec = Pick<ResolvedCanarySpec, "targetRef">;

export async function readTarget(kube: KubeClient, namespace: string, spec: TargetSpec): Promise<Workload> {
  const { kind, name } = spec.targetRef;
  return required(
    kube.get<Workload>(workloadType(kind), namespace, name),
    `${kind} ${namespace}/${name} (spec.targetRef)`,
    `create it, or point spec.targetRef.name at an existing ${kind}`,
  );
}

export function targetLabel(workload: Workload, settings: WorkloadSettings): SelectorLabel {
  const label = selectorLabel(workload, settings.selectorLabels);
  if (label) return label;
  const meta = workload.metadata;
  throw invalidSpec(
    `${meta?.namespace}/${meta?.name} spec.selector.matchLabels must contain one of ${settings.selectorLabels.join(", ")}: ` +
      "add one of them to the selector and the pod template labels",
  );
}

/** The configs the target references; tracking turned off means none is tracked (all are shared). */
export async function targetConfigs(
  kube: KubeClient,
  namespace: string,
  workload: Workload,
  settings: WorkloadSettings,
): Promise<PodConfigs> {
  if (!settings.configTracking) return { tracked: [], shared: [], missingOptional: [], missing: [] };
  const configs = await readPodConfigs(kube, namespace, workload.spec?.template?.spec);
  const [first] = configs.missing;
  if (first) {
    throw targetNotFound(
      `${first.kind} ${namespace}/${first.name}, used by ${workload.metadata?.name} (${first.usedBy.join(", ")}), not found: ` +
        "create it, or mark the reference optional",
    );
  }
  return configs;
}

function revisionOf(workload: Workload, configs: PodConfigs): string {
  return computeRevision(workload.spec?.template, trackedChecksums(configs));
}

/** Applies the `-primary` copies of tracked configs (owned by the Canary, shared with other Canaries). */
export async function applyConfigCopies(
  kube: KubeClient,
  namespace: string,
  configs: PodConfigs,
  settings: WorkloadSettings,
  owner: CanaryIdentity,
): Promise<void> {
  await Promise.all(
    configs.tracked.map(async ({ ref, object }) => {
      const type = ref.kind === "ConfigMap" ? RESOURCES.configMaps : RESOURCES.secrets;
      const name = primaryName(ref.name);
      checkWritable(
        kube,
        await kube.find(type, namespace, name),
        { kind: ref.kind, namespace, name },
        owner,
        {
          fix: `delete it, or rename the ${ref.kind} ${ref.name} the target uses`,
          shared: true,
        },
      );
      const copy = buildConfigCopy(object, ref.kind, settings.includeLabelPrefixes);
      const applied = await kube.apply(type, namespace, name, copy);
      await adopt(kube, type, applied, owner, { controller: false });
    }),
  );
}

/**
 * Applies the primary built from `target`, then (in one patch) makes the Canary its owner and sets
 * `replicas` when given. The count is never part of the applied configuration: leaving it out of
 * a later apply would reset it, and an autoscaler must be free to own it.
 */
export async function applyPrimary(
  kube: KubeClient,
  kind: TargetKind,
  target: Workload,
  options: {
    label: SelectorLabel;
    configs: PodConfigs;
    settings: WorkloadSettings;
    owner: CanaryIdentity;
    replicas?: number | undefined;
  },
): Promise<Workload> {
  const namespace = target.metadata?.namespace ?? "";
  const revision = revisionOf(target, options.configs);
  const desired = buildPrimary(target, {
    kind,
    label: options.label,
    includeLabelPrefixes: options.settings.includeLabelPrefixes,
    tracked: options.configs.tracked,
    revision,
  });
  const type = workloadType(kind);
  const name = desired.metadata?.name ?? "";
  checkWritable(
    kube,
    await kube.find<Workload>(type, namespace, name),
    { kind, namespace, name },
    options.owner,
    {
      fix: "delete it, or rename the target",
    },
  );
  const applied = await kube.apply<Workload>(type, namespace, name, desired);
  const setReplicas =
    kind === "Deployment" &&
    options.replicas !== undefined &&
    (applied as V1Deployment).spec?.replicas !== options.replicas;
  await adopt(kube, type, applied, options.owner, {
    extra: setReplicas ? [{ op: "add", path: "/spec/replicas", value: options.replicas }] : [],
  });
  return applied;
}

/** Scales a Deployment to zero replicas, or gives a DaemonSet a node selector no node matches. */
export async function scaleToZero(
  kube: KubeClient,
  kind: TargetKind,
  namespace: string,
  name: string,
): Promise<void> {
  const patch =
    kind === "DaemonSet"
      ? { spec: { template: { spec: { nodeSelector: { [SCALE_TO_ZERO_NODE_SELECTOR]: "true" } } } } }
      : { spec: { replicas: 0 } };
  await kube.mergePatch(workloadType(kind), namespace, name, patch);
}

/**
 * Gives a scaled-down target its replicas back: a Deployment keeps a count it already has, else
 * takes its autoscaler's minimum, else the primary's count (Flagger's order); a DaemonSet loses
 * the scale-to-zero node selector.
 */
export async function scaleToDesired(
  kube: KubeClient,
  namespace: string,
  spec: ResolvedCanarySpec,
): Promise<void> {
  const { kind, name } = spec.targetRef;
  if (kind === "DaemonSet") {
    const nodeSelector = Object.fromEntries(SCALE_TO_ZERO_NODE_SELECTORS.map((key) => [key, null]));
    await kube.mergePatch(RESOURCES.daemonSets, namespace, name, {
      spec: { template: { spec: { nodeSelector } } },
    });
    return;
  }
  const target = (await readTarget(kube, namespace, spec)) as V1Deployment;
  if ((target.spec?.replicas ?? 1) > 0) return;
  await kube.mergePatch(RESOURCES.deployments, namespace, name, {
    spec: { replicas: await desiredReplicas(kube, namespace, spec) },
  });
}

async function desiredReplicas(
  kube: KubeClient,
  namespace: string,
  spec: ResolvedCanarySpec,
): Promise<number> {
  const scaler = spec.autoscalerRef;
  if (scaler?.kind === "HorizontalPodAutoscaler") {
    const hpa = await kube.find<V2HorizontalPodAutoscaler>(
      RESOURCES.horizontalPodAutoscalers,
      namespace,
      scaler.name,
    );
    return Math.max(hpa?.spec?.minReplicas ?? 1, 1);
  }
  const primary = await kube.find<V1Deployment>(
    RESOURCES.deployments,
    namespace,
    primaryName(spec.targetRef.name),
  );
  return Math.max(primary?.spec?.replicas ?? 1, 1);
}

export function readiness(
  kind: TargetKind,
  workload: Workload,
  options: { thresholdPercent: number; deadlineSeconds?: number | undefined; nowMs: number; sinceMs: number },
): Readiness {
  return kind === "DaemonSet"
    ? daemonSetReadiness(workload as V1DaemonSet, options)
    : deploymentReadiness(workload as V1Deployment, options);
}

/** Seconds a single watch request stays open; below client-node's 30 s idle timeout. */
const WATCH_SECONDS = 25;
const HEARTBEAT_MS = 3000;
const WATCH_RETRY_MS = 500;

export interface WaitOptions {
  readonly kind: TargetKind;
  readonly namespace: string;
  readonly name: string;
  readonly thresholdPercent: number;
  readonly deadlineSeconds?: number | undefined;
  /** Give up (not ready) after this long; the caller retries later. Unbounded when undefined. */
  readonly budgetMs?: number | undefined;
  readonly control: WaitControl;
  readonly now: () => number;
}

/**
 * Reads the workload and, until it is ready, its deadline passes or the budget runs out, follows
 * it with a watch (no polling): each change is judged as it arrives. Heartbeats while it waits;
 * throws the cancellation when the activity is cancelled.
 */
export async function waitForReady(
  kube: KubeClient,
  options: WaitOptions,
): Promise<{ readiness: Readiness; workload: Workload }> {
  const { kind, namespace, name, control, now } = options;
  const type = workloadType(kind);
  const started = now();
  const judge = (w: Workload) =>
    readiness(kind, w, {
      thresholdPercent: options.thresholdPercent,
      deadlineSeconds: options.deadlineSeconds,
      nowMs: now(),
      sinceMs: control.sinceMs,
    });
  const read = () =>
    required(
      kube.get<Workload>(type, namespace, name),
      `${kind} ${namespace}/${name}`,
      "it was deleted; recreate it or fix spec.targetRef",
    );
  let workload = await read();
  let state = judge(workload);
  const heartbeat = setInterval(control.heartbeat, HEARTBEAT_MS);
  try {
    while (!state.ready && !state.deadlineExceeded) {
      if (control.signal?.aborted) throw control.signal.reason;
      const budgetLeft =
        options.budgetMs === undefined ? Number.POSITIVE_INFINITY : started + options.budgetMs - now();
      const deadlineLeft =
        state.deadlineAtMs === undefined ? Number.POSITIVE_INFINITY : state.deadlineAtMs - now();
      const waitMs = Math.min(budgetLeft, deadlineLeft, WATCH_SECONDS * 1000);
      if (budgetLeft <= 0) break;
      control.heartbeat();
      const stop = new AbortController();
      const onCancel = () => stop.abort();
      control.signal?.addEventListener("abort", onCancel, { once: true });
      const timer = setTimeout(() => stop.abort(), Math.max(waitMs, 0));
      let stale = false;
      const failure = await kube.watch<Workload>(
        type,
        namespace,
        {
          fieldSelector: `metadata.name=${name}`,
          resourceVersion: workload.metadata?.resourceVersion,
          timeoutSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
        },
        (event, object) => {
          if (event === "ADDED" || event === "MODIFIED") {
            workload = object;
            state = judge(workload);
            if (state.ready || state.deadlineExceeded) stop.abort();
          } else if (event === "BOOKMARK") {
            workload = {
              ...workload,
              metadata: { ...workload.metadata, resourceVersion: object.metadata?.resourceVersion },
            };
          } else {
            // DELETED, or ERROR (e.g. 410 Gone: the version is too old): read afresh.
            stale = true;
            stop.abort();
          }
        },
        stop.signal,
      );
      clearTimeout(timer);
      control.signal?.removeEventListener("abort", onCancel);
      if (control.signal?.aborted) throw control.signal.reason;
      if (isForbidden(failure)) throw failure;
      // A dropped connection: pause briefly so a flapping API server is not hammered.
      if (failure) await new Promise((resolve) => setTimeout(resolve, WATCH_RETRY_MS));
      if (stale || failure) workload = await read();
      state = judge(workload);
    }
  } finally {
    clearInterval(heartbeat);
  }
  return { readiness: state, workload };
}

/** The reasons the workload's pods give for not being ready, for a deadline message. */
export async function describePods(
  kube: KubeClient,
  namespace: string,
  workload: Workload,
): Promise<string[]> {
  const matchLabels = workload.spec?.selector?.matchLabels ?? {};
  const labelSelector = Object.entries(matchLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  if (labelSelector === "") return [];
  const pods = await kube.list<V1Pod>(RESOURCES.pods, namespace, { labelSelector });
  return podProblems(pods.items);
}
