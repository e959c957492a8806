/**
 * The workload side of a Knative Service target (provider knative). Knative keeps every revision
 * of the Service and scales each one itself: there is no primary copy, no Services and no scaling.
 * The primary is the revision pinned in the Service's primary-revision annotation, the canary the
 * latest created one; each is ready when its Revision's Ready condition is True.
 */
import { targetTypeOf } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import type { CanaryIdentity } from "../src/kube/metadata.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import type {
  InitializeResult,
  ReadinessReport,
  Target,
  WaitReadyOptions,
} from "../workflows/activity-port.ts";
import { PRIMARY_ONLY, sameRoute } from "../workflows/decisions/routes.ts";
import { failUnlessReady, notReady } from "./errors.ts";
import {
  knativeRouter,
  PRIMARY_REVISION_ANNOTATION,
  primaryRevision,
  promoteRevision,
  readKnativeService,
} from "./routing/knative.ts";
import type { RouterContext } from "./routing/router.ts";

export function isKnativeTarget(spec: Pick<ResolvedCanarySpec, "targetRef">): boolean {
  return targetTypeOf(spec.targetRef) === "KnativeService";
}

interface Revision {
  readonly status?: {
    readonly conditions?: readonly {
      readonly type?: string;
      readonly status?: string;
      readonly reason?: string;
      readonly message?: string;
    }[];
  };
}

/** A Revision's Ready condition, in words when it is not True. */
async function revisionReadiness(
  kube: KubeClient,
  namespace: string,
  name: string,
  role: "primary" | "canary",
): Promise<ReadinessReport> {
  const where = `Knative Revision ${namespace}/${name} (the ${role})`;
  const revision = await kube.find<Revision>(RESOURCES.knativeRevisions, namespace, name);
  if (!revision) return { ready: false, message: `${where} not found` };
  const ready = revision.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status === "True") return { ready: true, message: `the ${role} is ready` };
  const why = [ready?.reason, ready?.message].filter((s) => s !== undefined && s !== "").join(": ");
  return { ready: false, message: `${where} is not ready${why === "" ? "" : `: ${why}`}` };
}

export interface KnativeTargetActivities {
  initialize(target: Target, owner: CanaryIdentity): Promise<InitializeResult>;
  primaryReadiness(target: Target): Promise<ReadinessReport>;
  canaryReadiness(target: Target): Promise<ReadinessReport>;
  waitCanaryReady(target: Target, options: WaitReadyOptions): Promise<void>;
  promote(target: Target): Promise<void>;
}

export function createKnativeTargetActivities(deps: {
  readonly kube: KubeClient;
  readonly now: () => number;
  readonly routing: (target: Target) => RouterContext;
}): KnativeTargetActivities {
  const { kube, now, routing } = deps;

  /** Not ready rather than an error when a revision is not named yet: the workflow says why. */
  async function readiness(target: Target, role: "primary" | "canary"): Promise<ReadinessReport> {
    const ctx = routing(target);
    const service = await readKnativeService(ctx);
    const where = `Knative Service ${ctx.namespace}/${ctx.spec.targetRef.name}`;
    const name =
      role === "primary"
        ? service.metadata?.annotations?.[PRIMARY_REVISION_ANNOTATION]
        : service.status?.latestCreatedRevisionName;
    if (name === undefined) {
      return {
        ready: false,
        message:
          role === "primary"
            ? `${where} has no ${PRIMARY_REVISION_ANNOTATION} annotation: delete and recreate the Canary to initialize it again`
            : `${where} has no revision yet: waiting for Knative to create one`,
      };
    }
    return revisionReadiness(kube, ctx.namespace, name, role);
  }

  return {
    /**
     * Pins the latest created revision as the primary (once, as the router's reconcile does),
     * waits (retryably) for it to be ready and routes everything to it. Nothing is created.
     */
    async initialize(target, owner) {
      const ctx = routing(target);
      await knativeRouter.reconcile(ctx, owner);
      const primary = primaryRevision(ctx, await readKnativeService(ctx));
      const state = await revisionReadiness(kube, ctx.namespace, primary, "primary");
      if (!state.ready) throw notReady(`${state.message}; still waiting`);
      if (!sameRoute(await knativeRouter.getRoutes(ctx), PRIMARY_ONLY)) {
        await knativeRouter.setRoutes(ctx, PRIMARY_ONLY);
      }
      return { primaryRevision: primary };
    },

    primaryReadiness: (target) => readiness(target, "primary"),
    canaryReadiness: (target) => readiness(target, "canary"),

    /**
     * Knative reports a Revision's progress in its conditions only: each attempt reads it once,
     * and Temporal retries a revision not ready yet until the progress deadline has passed.
     */
    async waitCanaryReady(target, options) {
      failUnlessReady(await readiness(target, "canary"), target.spec.progressDeadlineSeconds, options, now());
    },

    /** The revision analysed (the latest created one, if the workflow named none) becomes the primary. */
    async promote(target) {
      const ctx = routing(target);
      const revision = target.revision ?? (await readKnativeService(ctx)).status?.latestCreatedRevisionName;
      if (revision === undefined) throw notReady("the Knative Service has no revision to promote yet");
      await promoteRevision(ctx, revision);
    },
  };
}
