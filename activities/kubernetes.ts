/**
 * The Kubernetes side of the canary workflow's port: initialize, readiness, scaling, routing,
 * promotion, status, events and finalize, each idempotent and each a short sequence of the effects
 * in workload.ts, services.ts, autoscaler.ts, routing/ and status.ts.
 */
import type { V1DaemonSet, V1Deployment } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import type { KubeClient } from "../src/kube/client.ts";
import { trackedChecksums } from "../src/kube/configs.ts";
import { addCanaryFinalizer, removeCanaryFinalizer } from "../src/kube/finalizer.ts";
import {
  CANARY_FINALIZER,
  type CanaryIdentity,
  DEFAULT_SELECTOR_LABELS,
  REVISION_ANNOTATION,
  SCALE_TO_ZERO_NODE_SELECTORS,
} from "../src/kube/metadata.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import type {
  CanaryActivities,
  CanaryEvent,
  InitializeResult,
  ReadinessReport,
  Routes,
  StatusUpdate,
  StepReadiness,
  StepReport,
  Target,
  WaitReadyOptions,
} from "../workflows/activity-port.ts";
import { NON_RETRYABLE_ERRORS } from "../workflows/activity-port.ts";
import { PRIMARY_ONLY, sameRoute } from "../workflows/decisions/routes.ts";
import { waitBudgetMs, waitControl } from "./activity-context.ts";
import { applyPrimaryAutoscaler, setTargetAutoscalerPaused } from "./autoscaler.ts";
import { deadlineExceeded, guarded, notReady } from "./errors.ts";
import { isForeignPrimary, takeOver } from "./flagger-takeover.ts";
import { createKnativeTargetActivities, isKnativeTarget } from "./knative-target.ts";
import { adopt, type CanaryObject, checkWritable, identityOf, readCanary } from "./ownership.ts";
import { routerFor } from "./routing/registry.ts";
import type { RouterContext } from "./routing/router.ts";
import { createServiceTargetActivities, isServiceTarget } from "./service-target.ts";
import { reconcileServices, revertApexService } from "./services.ts";
import { recordCanaryEvent, StatusWriter } from "./status.ts";
import {
  applyConfigCopies,
  applyPrimary,
  describePods,
  readiness,
  readTarget,
  scaleToDesired,
  scaleToZero,
  targetConfigs,
  targetLabel,
  type WaitOptions,
  type WorkloadSettings,
  waitForReady,
  workloadType,
} from "./workload.ts";
import { primaryName, type Workload } from "./workload-primary.ts";

export interface KubernetesActivityDeps {
  readonly kube: KubeClient;
  /** Operator-wide workload settings; Flagger's defaults where left out. */
  readonly settings?: Partial<WorkloadSettings>;
  /** Outside a worker, how long initialize and finalize wait for a workload to become ready. */
  readonly readyWaitMs?: number;
  readonly now?: () => number;
}

export type KubernetesActivities = Pick<
  CanaryActivities,
  | "initialize"
  | "checkPrimaryReady"
  | "primaryReadiness"
  | "stepReadiness"
  | "waitCanaryReady"
  | "scaleCanary"
  | "getRoutes"
  | "setRoutes"
  | "promote"
  | "syncStatus"
  | "recordEvent"
  | "report"
  | "finalize"
>;

export const DEFAULT_WORKLOAD_SETTINGS: WorkloadSettings = {
  selectorLabels: DEFAULT_SELECTOR_LABELS,
  includeLabelPrefixes: [],
  configTracking: true,
};

function isScaledToZero(kind: Target["spec"]["targetRef"]["kind"], workload: Workload): boolean {
  if (kind === "DaemonSet") {
    const selector = (workload as V1DaemonSet).spec?.template?.spec?.nodeSelector ?? {};
    return SCALE_TO_ZERO_NODE_SELECTORS.some((key) => key in selector);
  }
  return (workload as V1Deployment).spec?.replicas === 0;
}

/** The revision a workload's pod template records (the primary's: what it was promoted from). */
function revisionAnnotation(workload: Workload): string | undefined {
  return workload.spec?.template?.metadata?.annotations?.[REVISION_ANNOTATION];
}

/**
 * Whether an existing primary is only a first version that never became ready, which a new
 * target revision replaces instead of waiting on it forever. A primary that was promoted (the
 * Canary's status records a promotion) or is ready now is kept: it may be serving.
 */
function replacesUnpromoted(target: Target, canary: CanaryObject, primary: Workload): boolean {
  const revision = revisionAnnotation(primary);
  if (target.revision === undefined || target.revision === revision) return false;
  if (canary.status?.lastPromotedSpec !== undefined) return false;
  return !readiness(target.spec.targetRef.kind, primary, {
    thresholdPercent: target.spec.analysis.primaryReadyThreshold,
    nowMs: 0,
    sinceMs: 0,
  }).ready;
}

export function createKubernetesActivities(deps: KubernetesActivityDeps): KubernetesActivities {
  const { kube } = deps;
  const now = deps.now ?? Date.now;
  const settings: WorkloadSettings = { ...DEFAULT_WORKLOAD_SETTINGS, ...deps.settings };
  const readyWaitMs = deps.readyWaitMs ?? 5 * 60_000;
  const status = new StatusWriter(kube, now);

  const routing = (target: Target): RouterContext => ({
    kube,
    namespace: target.ref.namespace,
    spec: target.spec,
    revision: target.revision,
    settings,
  });
  const knative = createKnativeTargetActivities({ kube, now, routing });
  const serviceTarget = createServiceTargetActivities({
    kube,
    now,
    includeLabelPrefixes: settings.includeLabelPrefixes,
    routing,
  });

  /** Waits (bounded by the activity's own timeout) for a workload, or fails retryably to try again. */
  async function awaitReady(options: Omit<WaitOptions, "control" | "now" | "budgetMs">): Promise<void> {
    const { readiness: state } = await waitForReady(kube, {
      ...options,
      control: waitControl(now()),
      now,
      budgetMs: waitBudgetMs(now(), readyWaitMs),
    });
    if (!state.ready) throw notReady(`${state.summary}; still waiting`);
  }

  async function initialize(target: Target): Promise<InitializeResult> {
    const { ref, spec } = target;
    const namespace = ref.namespace;
    const router = routerFor(spec.provider);
    const canary = await readCanary(kube, ref);
    const owner = identityOf(canary);
    if (spec.revertOnDeletion && !canary.metadata.finalizers?.includes(CANARY_FINALIZER)) {
      await addCanaryFinalizer(kube, namespace, ref.name);
    }
    if (isKnativeTarget(spec)) return knative.initialize(target, owner);
    if (isServiceTarget(spec)) return serviceTarget.initialize(target, owner);
    const workload = await readTarget(kube, namespace, spec);
    const label = targetLabel(workload, settings);
    const { kind } = spec.targetRef;
    const name = primaryName(spec.targetRef.name);
    const existing = await kube.find<Workload>(workloadType(kind), namespace, name);
    let primary = existing;
    let takenOver: InitializeResult | undefined;
    if (!existing || replacesUnpromoted(target, canary, existing)) {
      const configs = await targetConfigs(kube, namespace, workload, settings);
      await applyConfigCopies(kube, namespace, configs, settings, owner);
      primary = await applyPrimary(kube, kind, workload, {
        label,
        configs,
        settings,
        owner,
        replicas: Math.max((workload as V1Deployment).spec?.replicas ?? 1, 1),
      });
      await status.setTrackedConfigs(ref, trackedChecksums(configs));
    } else {
      // An existing primary runs the last promoted revision: never overwritten here, only checked.
      checkWritable(kube, existing, { kind, namespace, name }, owner, {
        fix: "delete it, or rename the target",
      });
      await adopt(kube, workloadType(kind), existing, owner);
      if (isForeignPrimary(existing)) {
        takenOver = await takeOver(kube, {
          kind,
          target: workload,
          primary: existing,
          label,
          configs: await targetConfigs(kube, namespace, workload, settings),
          includeLabelPrefixes: settings.includeLabelPrefixes,
          selectorLabels: settings.selectorLabels,
          revision: target.revision,
          targetScaledDown: isScaledToZero(kind, workload),
          status: canary.status,
        });
      }
    }
    await applyPrimaryAutoscaler(kube, namespace, spec, settings.includeLabelPrefixes, owner);
    await reconcileServices(kube, namespace, spec, label, workload, owner);
    await router.reconcile(routing(target), owner);
    await awaitReady({ kind, namespace, name, thresholdPercent: spec.analysis.primaryReadyThreshold });
    // A lost workflow may have left weight on the canary: all traffic goes to the (ready) primary
    // before the target is scaled down, never after.
    if (!sameRoute(await router.getRoutes(routing(target)), PRIMARY_ONLY)) {
      await router.setRoutes(routing(target), PRIMARY_ONLY);
    }
    await setTargetAutoscalerPaused(kube, namespace, spec, true);
    if (!isScaledToZero(kind, workload)) await scaleToZero(kube, kind, namespace, spec.targetRef.name);
    return takenOver ?? { primaryRevision: primary ? revisionAnnotation(primary) : undefined };
  }

  async function primaryReadiness(target: Target): Promise<ReadinessReport> {
    if (isKnativeTarget(target.spec)) return knative.primaryReadiness(target);
    if (isServiceTarget(target.spec)) return serviceTarget.primaryReadiness(target);
    const { spec } = target;
    const { kind } = spec.targetRef;
    const where = `${target.ref.namespace}/${primaryName(spec.targetRef.name)}`;
    const primary = await kube.find<Workload>(
      workloadType(kind),
      target.ref.namespace,
      primaryName(spec.targetRef.name),
    );
    if (!primary) {
      // Not ready rather than an error: the workflow halts advancement and says why.
      return {
        ready: false,
        message: `${kind} ${where} (the primary) not found: delete and recreate the Canary to initialize it again`,
      };
    }
    const state = readiness(kind, primary, {
      thresholdPercent: spec.analysis.primaryReadyThreshold,
      nowMs: now(),
      sinceMs: now(),
    });
    return { ready: state.ready, message: state.ready ? "the primary is ready" : state.summary };
  }

  async function canaryReadiness(target: Target): Promise<ReadinessReport> {
    if (isKnativeTarget(target.spec)) return knative.canaryReadiness(target);
    if (isServiceTarget(target.spec)) return serviceTarget.canaryReadiness(target);
    const { kind, name } = target.spec.targetRef;
    const workload = await kube.find<Workload>(workloadType(kind), target.ref.namespace, name);
    // waitCanaryReady, which the workflow falls back to, says what is missing and when to give up.
    if (!workload) return { ready: false, message: `${kind} ${target.ref.namespace}/${name} not found` };
    const state = readiness(kind, workload, {
      thresholdPercent: target.spec.analysis.canaryReadyThreshold,
      nowMs: now(),
      sinceMs: now(),
    });
    return { ready: state.ready, message: state.ready ? "the canary is ready" : state.summary };
  }

  async function stepReadiness(target: Target): Promise<StepReadiness> {
    const [canary, primary] = await Promise.all([canaryReadiness(target), primaryReadiness(target)]);
    return { canary, primary };
  }

  async function checkPrimaryReady(target: Target): Promise<void> {
    const state = await primaryReadiness(target);
    if (!state.ready) throw notReady(`halting advancement: the primary is not ready: ${state.message}`);
  }

  async function waitCanaryReady(target: Target, options: WaitReadyOptions = {}): Promise<void> {
    if (isKnativeTarget(target.spec)) return knative.waitCanaryReady(target, options);
    if (isServiceTarget(target.spec)) return serviceTarget.waitCanaryReady(target, options);
    const { ref, spec } = target;
    const control = waitControl(now());
    const deadlineSeconds = spec.progressDeadlineSeconds;
    // The workflow's anchor wins over this attempt's schedule time, which a restart would move.
    const sinceMs =
      options.deadlineAtMs === undefined ? control.sinceMs : options.deadlineAtMs - deadlineSeconds * 1000;
    const { readiness: state, workload } = await waitForReady(kube, {
      kind: spec.targetRef.kind,
      namespace: ref.namespace,
      name: spec.targetRef.name,
      thresholdPercent: spec.analysis.canaryReadyThreshold,
      deadlineSeconds,
      control: { ...control, sinceMs },
      now,
    });
    if (state.ready) return;
    const pods = await describePods(kube, ref.namespace, workload);
    throw deadlineExceeded(
      `${state.summary}; no progress within progressDeadlineSeconds (${spec.progressDeadlineSeconds}s)` +
        (pods.length > 0 ? `: ${pods.join("; ")}` : ""),
    );
  }

  async function scaleCanary(target: Target, to: "zero" | "desired"): Promise<void> {
    const { ref, spec } = target;
    // Knative scales every revision itself, to zero when it gets no traffic.
    if (isKnativeTarget(spec)) return;
    // Nothing behind a Service target is the operator's to scale: its canary copy follows the target.
    if (isServiceTarget(spec)) {
      if (to === "desired") await serviceTarget.syncCanary(target, identityOf(await readCanary(kube, ref)));
      return;
    }
    // A ScaledObject is held before the canary goes down, and let go before it comes back up.
    await setTargetAutoscalerPaused(kube, ref.namespace, spec, to === "zero");
    if (to === "zero") await scaleToZero(kube, spec.targetRef.kind, ref.namespace, spec.targetRef.name);
    else await scaleToDesired(kube, ref.namespace, spec);
  }

  async function getRoutes(target: Target): Promise<Routes> {
    return routerFor(target.spec.provider).getRoutes(routing(target));
  }

  async function setRoutes(target: Target, routes: Routes): Promise<void> {
    await routerFor(target.spec.provider).setRoutes(routing(target), routes);
  }

  async function promote(target: Target): Promise<void> {
    if (isKnativeTarget(target.spec)) return knative.promote(target);
    if (isServiceTarget(target.spec))
      return serviceTarget.promote(target, identityOf(await readCanary(kube, target.ref)));
    const { ref, spec } = target;
    const namespace = ref.namespace;
    const owner = identityOf(await readCanary(kube, ref));
    const workload = await readTarget(kube, namespace, spec);
    const label = targetLabel(workload, settings);
    const configs = await targetConfigs(kube, namespace, workload, settings);
    await applyConfigCopies(kube, namespace, configs, settings, owner);
    // Without an autoscaler the primary takes the canary's size, as in Flagger; with one, the HPA decides.
    const replicas = (workload as V1Deployment).spec?.replicas ?? 0;
    await applyPrimary(kube, spec.targetRef.kind, workload, {
      label,
      configs,
      settings,
      owner,
      replicas: spec.autoscalerRef === undefined && replicas > 0 ? replicas : undefined,
    });
    await applyPrimaryAutoscaler(kube, namespace, spec, settings.includeLabelPrefixes, owner);
    await reconcileServices(kube, namespace, spec, label, workload, owner);
    await routerFor(spec.provider).reconcile(routing(target), owner);
    await status.setTrackedConfigs(ref, trackedChecksums(configs));
  }

  async function syncStatus(target: Target, update: StatusUpdate): Promise<void> {
    await status.sync(target.ref, update, target.spec);
  }

  async function recordEvent(target: Target, event: CanaryEvent): Promise<void> {
    await recordCanaryEvent(kube, status, target.ref, event, now);
  }

  async function report(target: Target, { status: update, events }: StepReport): Promise<void> {
    if (update) await syncStatus(target, update);
    for (const [index, event] of events.entries())
      await recordCanaryEvent(kube, status, target.ref, event, now, index);
  }

  /**
   * Best-effort: what is already gone (the target, the apex Service, a route) has nothing to
   * revert. The scaled-up target gets a bounded wait (progressDeadlineSeconds, within the
   * activity's time); one still not ready then gets its traffic back anyway, with a Warning Event.
   */
  async function finalize(target: Target, revert: boolean): Promise<void> {
    const { ref, spec } = target;
    const namespace = ref.namespace;
    if (revert) {
      const canary = await kube.find<CanaryObject>(RESOURCES.canaries, namespace, ref.name);
      // Without the Canary nothing can be told apart as its own; only what was taken over is given back.
      const owner: CanaryIdentity = canary ? identityOf(canary) : { name: ref.name, uid: "" };
      // A Knative Service's revisions keep running and it has no apex Service; a Kubernetes Service
      // target is the apex and was never changed, and its copies go with the Canary: only traffic goes back.
      if (!isKnativeTarget(spec) && !isServiceTarget(spec)) {
        const workload = await scaledUpTarget(target);
        const revertTo = workload && { label: targetLabel(workload, settings), workload };
        await revertApexService(kube, namespace, spec, revertTo, owner);
      }
      await routerFor(spec.provider).finalize(routing(target), owner);
    }
    await removeCanaryFinalizer(kube, namespace, ref.name);
  }

  /** The target scaled back up and waited for (bounded); undefined when it no longer exists. */
  async function scaledUpTarget(target: Target): Promise<Workload | undefined> {
    const { ref, spec } = target;
    const { kind, name } = spec.targetRef;
    if (!(await kube.find<Workload>(workloadType(kind), ref.namespace, name))) return undefined;
    await setTargetAutoscalerPaused(kube, ref.namespace, spec, false);
    await scaleToDesired(kube, ref.namespace, spec);
    const budgetMs = Math.min(waitBudgetMs(now(), readyWaitMs), spec.progressDeadlineSeconds * 1000);
    const waited = await waitForReady(kube, {
      kind,
      namespace: ref.namespace,
      name,
      thresholdPercent: spec.analysis.canaryReadyThreshold,
      control: waitControl(now()),
      now,
      budgetMs,
    }).catch((err: unknown) => {
      // Deleted while we waited: nothing left to give traffic back to.
      if (err instanceof ApplicationFailure && err.type === NON_RETRYABLE_ERRORS.targetNotFound)
        return undefined;
      throw err;
    });
    if (waited && !waited.readiness.ready) {
      await recordCanaryEvent(kube, status, ref, {
        type: "Warning",
        reason: "Finalizing",
        message: `reverting to the target although it is not ready after ${budgetMs / 1000}s: ${waited.readiness.summary}`,
      });
    }
    return waited?.workload;
  }

  return {
    initialize: guarded(initialize),
    checkPrimaryReady: guarded(checkPrimaryReady),
    primaryReadiness: guarded(primaryReadiness),
    stepReadiness: guarded(stepReadiness),
    waitCanaryReady: guarded(waitCanaryReady),
    scaleCanary: guarded(scaleCanary),
    getRoutes: guarded(getRoutes),
    setRoutes: guarded(setRoutes),
    promote: guarded(promote),
    syncStatus: guarded(syncStatus),
    recordEvent: guarded(recordEvent),
    report: guarded(report),
    finalize: guarded(finalize),
  };
}
