/**
 * `durable-canary run`: the operator process. By role it runs the worker (the canary workflows
 * and their activities), the controller (under a Lease, so one replica leads), or both, plus
 * the embedded Temporal server when TEMPORAL_ADDRESS is unset, and serves /healthz, /readyz and
 * /metrics on one port. SIGINT/SIGTERM stop it in order: the lease is released, the controller
 * stops, the worker drains, then the embedded server stops.
 */
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, type Connection } from "@temporalio/client";
import { Runtime } from "@temporalio/worker";
import { Controller } from "../controller/controller.ts";
import { Informer } from "../controller/informer.ts";
import { boundedCall, temporalCanaryWorkflows } from "../controller/workflows.ts";
import { createKubeClient, type KubeClient, type KubeObject } from "../kube/client.ts";
import { RESOURCES } from "../kube/resources.ts";
import { createLogger, errorMessage, type Logger, temporalLogger } from "../log.ts";
import { connectClient, connectWorker, loadTemporalSettings, openTemporal } from "../temporal/connection.ts";
import type { ServerExit } from "../temporal/embedded.ts";
import { runWorker } from "../worker.ts";
import { startOperatorHttp } from "./http.ts";
import { LeaderElection } from "./leader-election.ts";
import { OperatorMetrics } from "./metrics.ts";
import { operatorConfig, type RunFlags } from "./options.ts";

/** The package's version, from the sources (src/operator) or the build (dist/src/operator). */
function packageVersion(): string {
  for (const up of ["../../package.json", "../../../package.json"]) {
    const file = new URL(up, import.meta.url);
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  }
  return "unknown";
}

const temporalPingMs = 5000;

function kubeClientOrExplain(flags: RunFlags): KubeClient {
  try {
    return createKubeClient({ kubeconfig: flags.kubeconfig });
  } catch (err) {
    throw new Error(
      `${errorMessage(err)}. durable-canary acts on a Kubernetes cluster: point KUBECONFIG or --kubeconfig at one ` +
        "(for a local test cluster from this repository: npm run world:up, then source .world/world.env)",
    );
  }
}

/** The namespace of the Lease: the flag, the pod's own namespace, else "default". */
function leaseNamespace(flags: RunFlags): string {
  if (flags.leaderElectionNamespace) return flags.leaderElectionNamespace;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  const file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
  return existsSync(file) ? readFileSync(file, "utf8").trim() : "default";
}

export async function runOperator(flags: RunFlags): Promise<void> {
  const log = createLogger(flags.logLevel);
  Runtime.install({ logger: temporalLogger(log) });
  const config = operatorConfig(flags);
  const runsController = flags.role !== "worker";
  const runsWorker = flags.role !== "controller";
  const kube = kubeClientOrExplain(flags);
  const stopping = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log.info({ signal }, "shutting down");
      stopping.abort();
    });
  }

  const target = await openTemporal(loadTemporalSettings(), {
    handleSignals: false,
    log: (line) => log.info(line),
    ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
  });
  let embeddedExit: ServerExit | undefined;
  void target.embedded?.exited.then((exit) => {
    embeddedExit = exit;
    log.error({ code: exit.code, signal: exit.signal }, "the embedded Temporal server exited");
    stopping.abort();
  });
  let connection: Connection | undefined;
  const parts: { name: string; stop: () => Promise<void> }[] = [];
  try {
    connection = await connectClient(target);
    const client = new Client({ connection, namespace: target.namespace });
    let temporalUp = true;
    let controller: Controller | undefined;
    const temporalStatus = (ok: boolean, error?: unknown) => {
      if (ok && !temporalUp) {
        log.info("Temporal is reachable again: sending every Canary's state");
        controller?.resyncAll();
      }
      if (!ok && temporalUp) log.warn({ error: errorMessage(error) }, "Temporal is unreachable");
      temporalUp = ok;
    };

    const metricsHooks: { changed: (o: KubeObject, k: "add" | "update" | "delete") => void } = {
      changed: () => {},
    };
    const canaries = new Informer(kube, RESOURCES.canaries, {
      namespace: flags.namespace,
      onChange: (object, kind) => {
        metricsHooks.changed(object, kind);
        controller?.canaryChanged(object, kind);
      },
      onError: (err, retryInMs) =>
        log.warn({ retryInMs, error: errorMessage(err) }, "watch of canaries failed"),
    });
    let election: LeaderElection | undefined;
    const metrics = new OperatorMetrics({
      version: packageVersion(),
      meshProvider: config.meshProvider,
      canaries: () => canaries.list(),
      queueDepth: () => controller?.queueDepth ?? 0,
      isLeader: () => controller !== undefined,
      temporalUp: () => temporalUp,
      kubeRequests: () => kube.counter.snapshot(),
    });
    metricsHooks.changed = (o, k) => metrics.canaryChanged(o, k);

    let workerRunning = false;
    const http = await startOperatorHttp({
      listen: flags.listen,
      registry: metrics.registry,
      checks: {
        kubernetes: () => ({
          ok: canaries.synced && (controller?.synced ?? true),
          detail: canaries.synced ? "informers synced" : "informers not synced yet",
        }),
        temporal: () => ({
          ok: temporalUp,
          detail: temporalUp ? `reachable (namespace ${target.namespace})` : "unreachable",
        }),
        ...(runsWorker
          ? { worker: () => ({ ok: workerRunning, detail: workerRunning ? "polling" : "not polling" }) }
          : {}),
      },
    });
    parts.push({ name: "http", stop: () => new Promise((resolve) => http.server.close(() => resolve())) });
    log.info({ url: http.url }, "serving /healthz, /readyz and /metrics");

    const ping = setInterval(() => {
      boundedCall(client, temporalPingMs, () => client.workflowService.getSystemInfo({})).then(
        () => temporalStatus(true),
        (err: unknown) => temporalStatus(false, err),
      );
    }, temporalPingMs);
    ping.unref();
    parts.push({ name: "temporal ping", stop: async () => clearInterval(ping) });

    await canaries.start();
    parts.push({ name: "canary informer", stop: () => canaries.stop() });

    let worker: Promise<void> | undefined;
    if (runsWorker) {
      const workerConnection = await connectWorker(target);
      worker = runWorker({
        connection: workerConnection,
        namespace: target.namespace,
        config,
        kubeconfig: flags.kubeconfig,
        log,
        taskQueue: flags.taskQueue,
        settings: {
          selectorLabels: config.selectorLabels,
          includeLabelPrefixes: config.includeLabelPrefixes,
          configTracking: config.configTracking,
        },
        signal: stopping.signal,
      }).finally(() => {
        workerRunning = false;
        void workerConnection.close();
      });
      workerRunning = true;
    }

    if (runsController) {
      const newController = () =>
        new Controller({
          kube,
          workflows: temporalCanaryWorkflows(client, flags.taskQueue),
          canaries,
          namespace: flags.namespace,
          configTracking: config.configTracking,
          defaults: { defaultProvider: config.meshProvider },
          policy: { eventWebhook: config.eventWebhook, crossNamespaceRefs: config.crossNamespaceRefs },
          finalizeTimeoutMs: flags.finalizeTimeout,
          resyncPeriodMs: flags.resyncPeriod,
          log,
          onTemporal: temporalStatus,
          onReconcile: (ms, error) => metrics.reconciled(ms, error),
          onSignal: (ms) => metrics.signalled(ms),
        });
      const lead = async () => {
        const next = newController();
        controller = next;
        await next.start();
        log.info({ namespace: flags.namespace ?? "all namespaces" }, "controller started");
      };
      const stepDown = async () => {
        const current = controller;
        controller = undefined;
        await current?.stop();
        log.info("controller stopped");
      };
      if (flags.leaderElection) {
        election = new LeaderElection({
          kube,
          namespace: leaseNamespace(flags),
          name: flags.leaderElectionId,
          identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
          leaseDurationMs: flags.leaseDuration,
          renewDeadlineMs: Math.round(flags.leaseDuration * (2 / 3)),
          retryPeriodMs: Math.max(200, Math.round(flags.leaseDuration / 7.5)),
          log,
          onStartedLeading: lead,
          onStoppedLeading: stepDown,
        });
        election.start();
        parts.push({ name: "leader election", stop: () => (election as LeaderElection).stop() });
      } else {
        await lead();
        parts.push({ name: "controller", stop: stepDown });
      }
    }
    log.info({ role: flags.role, uiUrl: target.uiUrl }, "operator ready");

    await new Promise<void>((resolve) => {
      if (stopping.signal.aborted) resolve();
      stopping.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await stopAll(parts, log);
    parts.length = 0;
    // Without its server the worker cannot finish its tasks: do not wait out the grace time.
    await (embeddedExit ? Promise.race([worker, sleep(5000)]) : worker);
  } finally {
    await stopAll(parts, log);
    await connection?.close();
    await target.embedded?.stop();
  }
  const exit = embeddedExit as ServerExit | undefined;
  if (exit) {
    throw new Error(
      `the embedded Temporal server exited (${exit.signal ?? `code ${exit.code}`}); its last log lines:\n${exit.logTail}`,
    );
  }
}

async function stopAll(parts: { name: string; stop: () => Promise<void> }[], log: Logger): Promise<void> {
  for (const part of [...parts].reverse()) {
    await part
      .stop()
      .catch((err: unknown) => log.warn({ part: part.name, error: errorMessage(err) }, "stop failed"));
  }
}
