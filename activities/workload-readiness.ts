/**
 * Whether a Deployment or DaemonSet is ready, with Flagger's semantics, and why not: the controller
 * has observed the latest generation, every replica runs the new template, no old replica is left,
 * and at least `thresholdPercent` of the desired replicas are available. A workload that makes no
 * progress for `deadlineSeconds` has missed its progress deadline. Pure functions of the objects.
 */
import type {
  V1Container,
  V1ContainerStatus,
  V1DaemonSet,
  V1Deployment,
  V1DeploymentCondition,
  V1Pod,
} from "@kubernetes/client-node";

export type Readiness =
  | { readonly ready: true; readonly summary: string }
  | {
      readonly ready: false;
      readonly summary: string;
      readonly deadlineExceeded: boolean;
      /** When the deadline passes if nothing changes (epoch ms); undefined when no deadline applies. */
      readonly deadlineAtMs: number | undefined;
    };

export interface ReadinessOptions {
  readonly thresholdPercent: number;
  /** Progress deadline; undefined checks readiness only (the primary is never rolled back). */
  readonly deadlineSeconds?: number | undefined;
  readonly nowMs: number;
  /** When waiting started: the deadline's anchor when the workload reports no progress time of its own. */
  readonly sinceMs: number;
}

/** Replicas that must be available: the threshold share of the desired count, rounded up. */
export function requiredAvailable(desired: number, thresholdPercent: number): number {
  return Math.ceil((desired * thresholdPercent) / 100);
}

function notReady(
  summary: string,
  lastProgressMs: number | undefined,
  options: ReadinessOptions,
  reportedExceeded = false,
): Readiness {
  if (options.deadlineSeconds === undefined) {
    return { ready: false, summary, deadlineExceeded: false, deadlineAtMs: undefined };
  }
  const deadlineAtMs =
    Math.max(lastProgressMs ?? options.sinceMs, options.sinceMs) + options.deadlineSeconds * 1000;
  return {
    ready: false,
    summary,
    deadlineExceeded: reportedExceeded || options.nowMs >= deadlineAtMs,
    deadlineAtMs,
  };
}

function timeMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = new Date(value as string | Date).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

function condition(d: V1Deployment, type: string): V1DeploymentCondition | undefined {
  return d.status?.conditions?.find((c) => c.type === type);
}

export function deploymentReadiness(d: V1Deployment, options: ReadinessOptions): Readiness {
  const name = `Deployment ${d.metadata?.namespace}/${d.metadata?.name}`;
  const progressing = condition(d, "Progressing");
  // The last time the Deployment controller saw progress: Kubernetes' own deadline anchor.
  const lastProgressMs = timeMs(progressing?.lastUpdateTime);
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  if (observed < generation) {
    return notReady(
      `${name}: waiting for the controller to observe generation ${generation}`,
      undefined,
      options,
    );
  }
  const desired = d.spec?.replicas ?? 1;
  const updated = d.status?.updatedReplicas ?? 0;
  const total = d.status?.replicas ?? 0;
  const available = d.status?.availableReplicas ?? 0;
  const needed = requiredAvailable(desired, options.thresholdPercent);
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return notReady(
      `${name} exceeded its progress deadline: ${available} of ${desired} replicas available`,
      lastProgressMs,
      options,
      true,
    );
  }
  if (desired === 0) return notReady(`${name} is scaled to zero`, lastProgressMs, options);
  if (updated < desired) {
    return notReady(
      `${name}: ${updated} of ${desired} replicas run the new template`,
      lastProgressMs,
      options,
    );
  }
  if (total > updated) {
    return notReady(
      `${name}: ${total - updated} old replicas are pending termination`,
      lastProgressMs,
      options,
    );
  }
  if (available < needed) {
    return notReady(
      `${name}: ${available} of ${desired} replicas available, ${needed} needed (threshold ${options.thresholdPercent}%)`,
      lastProgressMs,
      options,
    );
  }
  return { ready: true, summary: `${name}: ${available} of ${desired} replicas available` };
}

export function daemonSetReadiness(ds: V1DaemonSet, options: ReadinessOptions): Readiness {
  const name = `DaemonSet ${ds.metadata?.namespace}/${ds.metadata?.name}`;
  const generation = ds.metadata?.generation ?? 0;
  const observed = ds.status?.observedGeneration ?? 0;
  if (observed < generation) {
    return notReady(
      `${name}: waiting for the controller to observe generation ${generation}`,
      undefined,
      options,
    );
  }
  const desired = ds.status?.desiredNumberScheduled ?? 0;
  const updated = ds.status?.updatedNumberScheduled ?? 0;
  const available = ds.status?.numberAvailable ?? 0;
  const needed = requiredAvailable(desired, options.thresholdPercent);
  // DaemonSets report no progress time; the wait's start anchors the deadline.
  if (desired === 0) return notReady(`${name} is scheduled on no node`, undefined, options);
  if (updated < desired) {
    return notReady(`${name}: ${updated} of ${desired} pods run the new template`, undefined, options);
  }
  if (available < needed) {
    return notReady(
      `${name}: ${available} of ${desired} pods available, ${needed} needed (threshold ${options.thresholdPercent}%)`,
      undefined,
      options,
    );
  }
  return { ready: true, summary: `${name}: ${available} of ${desired} pods available` };
}

/**
 * Why pods are not ready, in words: unschedulable pods, containers waiting (image pull errors,
 * crash loops, config errors) or terminated, and failing readiness. Identical reasons across pods
 * are grouped; at most `limit` distinct reasons are listed.
 */
export function podProblems(pods: readonly V1Pod[], limit = 5): string[] {
  const reasons = new Map<string, string[]>();
  const note = (pod: string, reason: string) => {
    const list = reasons.get(reason);
    if (list) list.push(pod);
    else reasons.set(reason, [pod]);
  };
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata?.name ?? "pod";
    const conditions = pod.status?.conditions ?? [];
    if (conditions.find((c) => c.type === "Ready")?.status === "True") continue;
    const scheduled = conditions.find((c) => c.type === "PodScheduled");
    if (scheduled?.status === "False") {
      note(name, `unschedulable: ${scheduled.message ?? scheduled.reason ?? "no node fits"}`);
      continue;
    }
    const ready = conditions.find((c) => c.type === "Ready");
    const readyDetail = describe(ready?.reason, ready?.message);
    const containerReasons = [
      ...containerProblems(pod.spec?.initContainers, pod.status?.initContainerStatuses, "init container", ""),
      ...containerProblems(pod.spec?.containers, pod.status?.containerStatuses, "container", readyDetail),
    ];
    if (containerReasons.length > 0) {
      for (const reason of containerReasons) note(name, reason);
      continue;
    }
    if (ready) note(name, `not ready${readyDetail}`);
    else note(name, `${pod.status?.phase ?? "Pending"}, not ready yet`);
  }
  const lines = [...reasons].map(([reason, names]) =>
    names.length === 1
      ? `pod ${names[0]}: ${reason}`
      : `${names.length} pods (${names.slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""}): ${reason}`,
  );
  return lines.length > limit ? [...lines.slice(0, limit), `and ${lines.length - limit} more`] : lines;
}

function describe(reason: string | undefined, message: string | undefined): string {
  if (reason && message) return ` (${reason}: ${message})`;
  if (reason || message) return ` (${reason ?? message})`;
  return "";
}

function containerProblems(
  containers: readonly V1Container[] | undefined,
  statuses: readonly V1ContainerStatus[] | undefined,
  label: string,
  readyDetail: string,
): string[] {
  const problems: string[] = [];
  for (const container of containers ?? []) {
    const status = statuses?.find((s) => s.name === container.name);
    if (!status || status.ready) continue;
    const state = status.state;
    const last = status.lastState?.terminated;
    const restarted = last ? `; last exit: ${last.reason ?? "terminated"} with code ${last.exitCode}` : "";
    if (state?.waiting) {
      problems.push(
        `${label} ${container.name} waiting${describe(state.waiting.reason, state.waiting.message)}${restarted}`,
      );
    } else if (state?.terminated) {
      const t = state.terminated;
      problems.push(
        `${label} ${container.name} terminated: ${t.reason ?? "exited"} with code ${t.exitCode}${describe(undefined, t.message)}`,
      );
    } else if (state?.running && label === "container") {
      problems.push(`${label} ${container.name} running but not ready${readyDetail}${restarted}`);
    }
  }
  return problems;
}
