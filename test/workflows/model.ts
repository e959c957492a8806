/**
 * An in-memory model of one canary's cluster, behind the workflow's activity port: the only fake
 * the workflow tests use. It keeps the routes, replicas and revisions the activities would set,
 * records every call, and can be told to fail readiness, metrics, gates or any activity.
 */
import { Context } from "@temporalio/activity";
import { ApplicationFailure } from "@temporalio/common";
import type { WebhookType } from "../../src/api/canary.ts";
import {
  type Alert,
  type CanaryActivities,
  type CanaryEvent,
  type MetricResult,
  NON_RETRYABLE_ERRORS,
  type Routes,
  type StatusUpdate,
  type Target,
  type WebhookResult,
} from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";

export interface RouteChange {
  readonly at: number;
  readonly routes: Routes;
}

export class ClusterModel {
  routes: Routes = PRIMARY_ONLY;
  readonly routeLog: RouteChange[] = [];
  canaryScaledUp = false;
  primaryRevision: string | undefined;
  /** What initialize reports as rolled back by the controller the Canary was taken over from. */
  rolledBack: { revision: string; reason: string } | undefined;
  promotions: string[] = [];
  readonly statuses: StatusUpdate[] = [];
  readonly events: CanaryEvent[] = [];
  readonly alerts: Alert[] = [];
  readonly calls: string[] = [];
  finalized: { revert: boolean } | undefined;

  // ---- knobs a test turns ----
  /** The canary never becomes ready: waitCanaryReady fails with DeadlineExceeded after this delay. */
  canaryMissesDeadline: { afterMs: number; reason: string } | undefined;
  /** waitCanaryReady blocks (heartbeating) until this is false. */
  canaryNotReadyYet = false;
  /** While set, the primary is not ready, with this reason (checkPrimaryReady throws retryably). */
  primaryNotReady: string | undefined;
  /** Initialization of this target revision waits (heartbeating) forever: its primary never becomes ready. */
  neverReadyRevision: string | undefined;
  /** The success-rate value runMetrics reports; below 99 fails. */
  successRate = 99.9;
  /** The next N metric runs report this error rate instead. */
  failMetricsTimes = 0;
  /** Answers of gate/rollback/pre-rollout webhooks by type: pass or fail. */
  readonly webhookAnswers = new Map<WebhookType, "pass" | "fail">();
  /** Makes an activity fail permanently with this message. */
  readonly failing = new Map<keyof CanaryActivities, string>();
  /** Makes an activity slow, in ms. */
  readonly delays = new Map<keyof CanaryActivities, number>();

  constructor(initialRevision: string) {
    this.primaryRevision = initialRevision;
  }

  get phases(): string[] {
    return this.statuses.map((s) => s.phase);
  }

  get lastStatus(): StatusUpdate | undefined {
    return this.statuses.at(-1);
  }

  /** The canary weights in the order they were set. */
  get weights(): number[] {
    return this.routeLog.map((r) => r.routes.canaryWeight);
  }
}

/** The activities over a registry of models, one per canary (`namespace/name`). */
export function modelActivities(models: Map<string, ClusterModel>): CanaryActivities {
  const modelOf = (target: Target): ClusterModel => {
    const model = models.get(`${target.ref.namespace}/${target.ref.name}`);
    if (!model)
      throw ApplicationFailure.nonRetryable(`no model for ${target.ref.namespace}/${target.ref.name}`);
    return model;
  };
  const enter = async (name: keyof CanaryActivities, target: Target): Promise<ClusterModel> => {
    const model = modelOf(target);
    model.calls.push(name);
    const failure = model.failing.get(name);
    if (failure) throw ApplicationFailure.nonRetryable(failure, NON_RETRYABLE_ERRORS.forbidden);
    const delay = model.delays.get(name);
    if (delay) await Context.current().sleep(delay);
    return model;
  };

  return {
    async initialize(target) {
      const model = await enter("initialize", target);
      while (model.neverReadyRevision !== undefined && target.revision === model.neverReadyRevision) {
        Context.current().heartbeat();
        await Context.current().sleep(50);
      }
      model.routes = PRIMARY_ONLY;
      model.primaryRevision ??= target.revision;
      return {
        primaryRevision: model.primaryRevision,
        ...(model.rolledBack ? { rolledBack: model.rolledBack } : {}),
      };
    },
    async checkPrimaryReady(target) {
      const model = await enter("checkPrimaryReady", target);
      if (model.primaryNotReady) throw ApplicationFailure.retryable(model.primaryNotReady, "NotReady");
    },
    async primaryReadiness(target) {
      const model = await enter("primaryReadiness", target);
      return model.primaryNotReady
        ? { ready: false, message: model.primaryNotReady }
        : { ready: true, message: "the primary is ready" };
    },
    async stepReadiness(target) {
      const model = await enter("stepReadiness", target);
      const canaryReady = !model.canaryMissesDeadline && !model.canaryNotReadyYet;
      return {
        canary: canaryReady
          ? { ready: true, message: "the canary is ready" }
          : { ready: false, message: "the canary is not ready" },
        primary: model.primaryNotReady
          ? { ready: false, message: model.primaryNotReady }
          : { ready: true, message: "the primary is ready" },
      };
    },
    async waitCanaryReady(target, options) {
      const model = await enter("waitCanaryReady", target);
      const started = Date.now();
      // Like the real activity: the workflow's anchor, else this call's start, plus the deadline.
      const progressDeadline = options?.deadlineAtMs ?? started + target.spec.progressDeadlineSeconds * 1000;
      for (;;) {
        const deadline = model.canaryMissesDeadline;
        if (deadline && Date.now() - started >= deadline.afterMs) {
          throw ApplicationFailure.nonRetryable(deadline.reason, NON_RETRYABLE_ERRORS.deadlineExceeded);
        }
        if (model.canaryNotReadyYet && Date.now() >= progressDeadline) {
          throw ApplicationFailure.nonRetryable(
            "no progress within progressDeadlineSeconds",
            NON_RETRYABLE_ERRORS.deadlineExceeded,
          );
        }
        if (!deadline && !model.canaryNotReadyYet) return;
        Context.current().heartbeat();
        await Context.current().sleep(50);
      }
    },
    async scaleCanary(target, to) {
      const model = await enter("scaleCanary", target);
      model.canaryScaledUp = to === "desired";
    },
    async getRoutes(target) {
      return (await enter("getRoutes", target)).routes;
    },
    async setRoutes(target, routes) {
      const model = await enter("setRoutes", target);
      model.routes = routes;
      model.routeLog.push({ at: Date.now(), routes });
    },
    async promote(target) {
      const model = await enter("promote", target);
      model.primaryRevision = target.revision;
      model.promotions.push(target.revision ?? "");
    },
    async runWebhooks(target, type) {
      const model = await enter("runWebhooks", target);
      return target.spec.analysis.webhooks
        .filter((w) => w.type === type)
        .map((w): WebhookResult => {
          const answer = model.webhookAnswers.get(type) ?? (type === "rollback" ? "fail" : "pass");
          return {
            name: w.name,
            type,
            verdict: answer,
            statusCode: answer === "pass" ? 200 : 403,
            message: answer === "pass" ? "200 OK" : "403 Forbidden: not approved",
          };
        });
    },
    async runMetrics(target) {
      const model = await enter("runMetrics", target);
      const value = model.failMetricsTimes > 0 ? 90 : model.successRate;
      if (model.failMetricsTimes > 0) model.failMetricsTimes--;
      return target.spec.analysis.metrics.map((m): MetricResult => {
        const min = m.thresholdRange.min ?? 99;
        const pass = value >= min;
        return {
          name: m.name,
          value,
          thresholdRange: m.thresholdRange,
          verdict: pass ? "pass" : "fail",
          message: pass
            ? `${m.name} ${value.toFixed(2)} >= ${min}`
            : `${m.name} ${value.toFixed(2)} < ${min}`,
        };
      });
    },
    async syncStatus(target, status) {
      (await enter("syncStatus", target)).statuses.push(status);
    },
    async recordEvent(target, event) {
      (await enter("recordEvent", target)).events.push(event);
    },
    async report(target, report) {
      const model = await enter("report", target);
      if (report.status) model.statuses.push(report.status);
      model.events.push(...report.events);
    },
    async alert(target, alert: Alert) {
      (await enter("alert", target)).alerts.push(alert);
    },
    async finalize(target, revert) {
      const model = await enter("finalize", target);
      model.finalized = { revert };
      if (revert) model.routes = PRIMARY_ONLY;
    },
  };
}
