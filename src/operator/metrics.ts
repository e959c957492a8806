/**
 * The operator's /metrics: Flagger's series under Flagger's names and labels, so existing
 * dashboards and alert rules keep working, plus durable_canary_* series of our own.
 *
 * The Flagger series are derived from the Canary objects (their status, as every replica's
 * informer sees it), not from what one worker ran, so every replica reports the same values.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CanaryPhase, CanaryStatus } from "../api/canary.ts";
import type { KubeObject } from "../kube/client.ts";

/** Phases of a rollout under way: Flagger's status 0. */
const RUNNING: ReadonlySet<string> = new Set<CanaryPhase>([
  "Waiting",
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
]);

interface CanaryLike {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: { readonly targetRef?: { readonly name?: string } };
  readonly status?: CanaryStatus;
}

/** Flagger's flagger_canary_status value: 0 running, 1 done (succeeded or idle), 2 failed. */
export function statusValue(phase: string | undefined): number {
  if (phase === "Failed") return 2;
  return phase !== undefined && RUNNING.has(phase) ? 0 : 1;
}

export interface OperatorMetricsOptions {
  readonly version: string;
  readonly meshProvider: string;
  /** The Canaries as the informer holds them now. */
  readonly canaries: () => readonly KubeObject[];
  readonly queueDepth: () => number;
  readonly isLeader: () => boolean;
  readonly temporalUp: () => boolean;
  /** The controller's Kubernetes requests so far, "verb resource" → count. */
  readonly kubeRequests: () => Readonly<Record<string, number>>;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly #successes: Counter<"name" | "namespace">;
  readonly #failures: Counter<"name" | "namespace">;
  readonly #duration: Histogram<"name" | "namespace">;
  readonly #reconcileErrors: Counter;
  readonly #reconcileSeconds: Histogram;
  readonly #signalSeconds: Histogram;
  /** The phase each Canary was last seen in, and since when it has been rolling out. */
  readonly #seen = new Map<string, { phase: string | undefined; rolloutSince: number | undefined }>();

  constructor(options: OperatorMetricsOptions) {
    const registers = [this.registry];
    const canaries = () => options.canaries() as readonly CanaryLike[];
    new Gauge({
      name: "flagger_info",
      help: "Operator information",
      labelNames: ["version", "mesh_provider"],
      registers,
      collect() {
        this.reset();
        this.set({ version: options.version, mesh_provider: options.meshProvider }, 1);
      },
    });
    new Gauge({
      name: "flagger_canary_total",
      help: "Number of Canaries, by namespace",
      labelNames: ["namespace"],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const c of canaries()) {
          const ns = c.metadata?.namespace ?? "";
          counts.set(ns, (counts.get(ns) ?? 0) + 1);
        }
        for (const [namespace, count] of counts) this.set({ namespace }, count);
      },
    });
    new Gauge({
      name: "flagger_canary_status",
      help: "Last canary status: 0 running, 1 successful, 2 failed",
      labelNames: ["name", "namespace"],
      registers,
      collect() {
        this.reset();
        for (const c of canaries()) {
          this.set(
            { name: c.metadata?.name ?? "", namespace: c.metadata?.namespace ?? "" },
            statusValue(c.status?.phase),
          );
        }
      },
    });
    new Gauge({
      name: "flagger_canary_weight",
      help: "Traffic weight of the primary and the canary workload",
      labelNames: ["workload", "namespace"],
      registers,
      collect() {
        this.reset();
        for (const c of canaries()) {
          const target = c.spec?.targetRef?.name;
          if (!target || c.status?.phase === undefined) continue;
          const namespace = c.metadata?.namespace ?? "";
          const weight = c.status.canaryWeight ?? 0;
          this.set({ workload: `${target}-primary`, namespace }, 100 - weight);
          this.set({ workload: target, namespace }, weight);
        }
      },
    });
    new Gauge({
      name: "flagger_canary_metric_analysis",
      help: "Each metric's value in the last analysis",
      labelNames: ["name", "namespace", "metric"],
      registers,
      collect() {
        this.reset();
        for (const c of canaries()) {
          for (const m of c.status?.lastAnalysis ?? []) {
            if (m.value === undefined) continue;
            this.set(
              { name: c.metadata?.name ?? "", namespace: c.metadata?.namespace ?? "", metric: m.name },
              m.value,
            );
          }
        }
      },
    });
    this.#duration = new Histogram({
      name: "flagger_canary_duration_seconds",
      help: "Seconds a rollout took, from its start to success or failure",
      labelNames: ["name", "namespace"],
      buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers,
    });
    this.#successes = new Counter({
      name: "flagger_canary_successes_total",
      help: "Rollouts that succeeded",
      labelNames: ["name", "namespace"],
      registers,
    });
    this.#failures = new Counter({
      name: "flagger_canary_failures_total",
      help: "Rollouts that failed",
      labelNames: ["name", "namespace"],
      registers,
    });
    new Gauge({
      name: "durable_canary_workqueue_depth",
      help: "Canaries waiting for or in reconciliation",
      registers,
      collect() {
        this.set(options.queueDepth());
      },
    });
    new Gauge({
      name: "durable_canary_leader",
      help: "1 when this replica runs the controller",
      registers,
      collect() {
        this.set(options.isLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: "durable_canary_temporal_up",
      help: "1 when the last call to Temporal succeeded",
      registers,
      collect() {
        this.set(options.temporalUp() ? 1 : 0);
      },
    });
    new Counter({
      name: "durable_canary_kube_requests_total",
      help: "Kubernetes API requests of the controller and leader election (watch streams not counted)",
      labelNames: ["verb", "resource"],
      registers,
      collect() {
        this.reset();
        for (const [key, count] of Object.entries(options.kubeRequests())) {
          const [verb = "", resource = ""] = key.split(" ");
          this.inc({ verb, resource }, count);
        }
      },
    });
    this.#reconcileErrors = new Counter({
      name: "durable_canary_reconcile_errors_total",
      help: "Reconciliations that failed (and were retried)",
      registers,
    });
    this.#reconcileSeconds = new Histogram({
      name: "durable_canary_reconcile_duration_seconds",
      help: "Seconds one Canary's reconciliation took",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.#signalSeconds = new Histogram({
      name: "durable_canary_signal_latency_seconds",
      help: "Seconds a signal to a canary's workflow took to be accepted by Temporal",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  reconciled(ms: number, error: unknown): void {
    this.#reconcileSeconds.observe(ms / 1000);
    if (error !== undefined) this.#reconcileErrors.inc();
  }

  signalled(ms: number): void {
    this.#signalSeconds.observe(ms / 1000);
  }

  /** Counts rollouts that end, from the phase changes every replica's informer sees. */
  canaryChanged(object: KubeObject, kind: "add" | "update" | "delete"): void {
    const canary = object as CanaryLike;
    const name = canary.metadata?.name ?? "";
    const namespace = canary.metadata?.namespace ?? "";
    const key = `${namespace}/${name}`;
    if (kind === "delete") {
      this.#seen.delete(key);
      return;
    }
    const phase = canary.status?.phase;
    const since = Date.parse(canary.status?.lastTransitionTime ?? "");
    const before = this.#seen.get(key);
    let rolloutSince = before?.rolloutSince;
    if (before && before.phase !== phase) {
      if (phase !== undefined && RUNNING.has(phase) && rolloutSince === undefined) {
        rolloutSince = Number.isNaN(since) ? Date.now() : since;
      }
      if (phase === "Succeeded" || phase === "Failed") {
        (phase === "Succeeded" ? this.#successes : this.#failures).inc({ name, namespace });
        if (rolloutSince !== undefined) {
          const end = Number.isNaN(since) ? Date.now() : since;
          this.#duration.observe({ name, namespace }, Math.max(0, end - rolloutSince) / 1000);
        }
        rolloutSince = undefined;
      }
    }
    this.#seen.set(key, { phase, rolloutSince });
  }
}
