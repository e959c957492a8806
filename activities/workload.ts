/**
 * Effects on workloads (Deployment and DaemonSet targets and their primaries): reading the target,
 * creating and promoting the primary with its config copies, scaling, and waiting for readiness
 * through a watch shared by every wait of the worker.
 */
import type { V1DaemonSet, V1Deployment, V1Pod, V2HorizontalPodAutoscaler } from "@kubernetes/client-node";
import type { TargetKind } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { computeRevision, type PodConfigs, readPodConfigs, trackedChecksums } from "../src/kube/configs.ts";
import type { CanaryIdentity } from "../src/kube/metadata.ts";
import { SCALE_TO_ZERO_NODE_SELECTOR, SCALE_TO_ZERO_NODE_SELECTORS } from "../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../src/kube/resources.ts";
import type { WaitControl } from "./activity-context.ts";
import { invalidSpec, required, targetNotFound } from "./errors.ts";
import { CONFIG_FIELDS, takeFlaggerFields, WORKLOAD_FIELDS } from "./flagger-fields.ts";
import type { ScaledObject } from "./keda.ts";
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
import { workloadWatches } from "./workload-watches.ts";

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
      const existing = await kube.find(type, namespace, name);
      checkWritable(kube, existing, { kind: ref.kind, namespace, name }, owner, {
        fix: `delete it, or rename the ${ref.kind} ${ref.name} the target uses`,
        shared: true,
      });
      await takeFlaggerFields(kube, type, existing, CONFIG_FIELDS);
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
  const existing = await kube.find<Workload>(type, namespace, name);
  checkWritable(kube, existing, { kind, namespace, name }, options.owner, {
    fix: "delete it, or rename the target",
  });
  await takeFlaggerFields(kube, type, existing, WORKLOAD_FIELDS);
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
  if (scaler?.kind === "ScaledObject") {
    const scaledObject = await kube.find<ScaledObject>(RESOURCES.scaledObjects, namespace, scaler.name);
    return Math.max(scaledObject?.spec?.minReplicaCount ?? 1, 1);
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

const HEARTBEAT_MS = 3000;
/** While the shared watch has no starting point yet (its list fails), how often a wait reads instead. */
const POLL_MS = 2000;
/** Longest single sleep of a wait; it then checks its budget and deadline again. */
const MAX_SLEEP_MS = 60_000;

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
 * Whether `a` is a later version of the same object than `b`: resourceVersions of one resource
 * compare as integers (Kubernetes 1.35, KEP-5504); ones that do not parse count as later, since
 * the watch sends an object's versions in order.
 */
function isLater(a: Workload, b: Workload): boolean {
  const x = a.metadata?.resourceVersion ?? "";
  const y = b.metadata?.resourceVersion ?? "";
  const integer = /^[1-9][0-9]*$/;
  if (!integer.test(x) || !integer.test(y)) return x !== y;
  return x.length !== y.length ? x.length > y.length : x > y;
}

/**
 * Reads the workload and, until it is ready, its deadline passes or the budget runs out, follows
 * it through the shared watch of its kind (workload-watches.ts; no polling): each change is judged
 * as it arrives. A read that may predate the watch's starting point is made again once the watch
 * has one. Heartbeats while it waits; throws the cancellation when the activity is cancelled.
 */
export async function waitForReady(
  kube: KubeClient,
  options: WaitOptions,
): Promise<{ readiness: Readiness; workload: Workload }> {
  const { kind, namespace, name, control, now } = options;
  const type = workloadType(kind);
  const watches = workloadWatches(kube);
  const started = now();
  const judge = (w: Workload) =>
    readiness(kind, w, {
      thresholdPercent: options.thresholdPercent,
      deadlineSeconds: options.deadlineSeconds,
      nowMs: now(),
      sinceMs: control.sinceMs,
    });
  const done = (r: Readiness) => r.ready || r.deadlineExceeded;
  const read = () =>
    required(
      kube.get<Workload>(type, namespace, name),
      `${kind} ${namespace}/${name}`,
      "it was deleted; recreate it or fix spec.targetRef",
    );
  type Judged = { readonly workload: Workload; readonly readiness: Readiness };
  let current: Judged | undefined;
  /** Judges a version later than the current one; true when the wait is over. */
  const take = (w: Workload): boolean => {
    if (current && !isLater(w, current.workload)) return false;
    current = { workload: w, readiness: judge(w) };
    return done(current.readiness);
  };
  let reread = false;
  let failure: Error | undefined;
  let wake = () => {};
  // Listening before the read: no event can slip between the read and the listening.
  const subscription = watches.subscribe(type, namespace, name, {
    object: (w) => {
      if (take(w)) wake();
    },
    reread: () => {
      reread = true;
      wake();
    },
    failed: (err) => {
      failure = err;
      wake();
    },
  });
  // The read counts as the starting point only if the watch followed every change since before it.
  const epoch = subscription.epoch;
  const heartbeat = setInterval(control.heartbeat, HEARTBEAT_MS);
  let pollDue = false;
  try {
    take(await read());
    // Set by that read, or by an event since: the time it is judged at moves on.
    const judgedNow = (): Judged => {
      const { workload } = current as Judged;
      current = { workload, readiness: judge(workload) };
      return current;
    };
    if (!done(judgedNow().readiness)) {
      subscription.follow();
      if (epoch === undefined || subscription.epoch !== epoch) reread = true;
    }
    for (;;) {
      if (control.signal?.aborted) throw control.signal.reason;
      if (failure) throw failure;
      const live = subscription.epoch !== undefined;
      if ((reread && live) || pollDue) {
        if (live) reread = false;
        pollDue = false;
        take(await read());
      }
      const { readiness: state } = judgedNow();
      if (state.ready || state.deadlineExceeded) break;
      const budgetLeft =
        options.budgetMs === undefined ? Number.POSITIVE_INFINITY : started + options.budgetMs - now();
      if (budgetLeft <= 0) break;
      const deadlineLeft =
        state.deadlineAtMs === undefined ? Number.POSITIVE_INFINITY : state.deadlineAtMs - now();
      const sleepMs = Math.min(budgetLeft, deadlineLeft, live ? MAX_SLEEP_MS : POLL_MS);
      control.heartbeat();
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => finish(false), Math.max(sleepMs, 0));
        const onAbort = () => finish(true);
        function finish(rung: boolean) {
          clearTimeout(timer);
          control.signal?.removeEventListener("abort", onAbort);
          wake = () => {};
          resolve(rung);
        }
        wake = () => finish(true);
        control.signal?.addEventListener("abort", onAbort, { once: true });
      });
      // Without a watch to follow, the wait reads the workload every POLL_MS.
      pollDue = !woken && subscription.epoch === undefined;
    }
    return current as Judged;
  } finally {
    clearInterval(heartbeat);
    subscription.close();
  }
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
