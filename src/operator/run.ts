/**
 * `durable-canary run`: the operator process. By role it runs the worker (the canary workflows
 * and their activities), the controller (under a Lease, so one replica leads), or both, plus
 * the embedded Temporal server when TEMPORAL_ADDRESS is unset, and serves /healthz, /readyz and
 * /metrics on one port. SIGINT/SIGTERM stop it in order: the lease is released, the controller
 * stops, the worker drains, then the embedded server stops.
 */
import { existsSync, readFileSync } from "node:fs";
import { flushCompileCache } from "node:module";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Connection } from "@temporalio/client";
import { Runtime } from "@temporalio/worker";
import { Controller } from "../controller/controller.ts";
import { Informer } from "../controller/informer.ts";
import { boundedCall, temporalCanaryWorkflows } from "../controller/workflows.ts";
import { checkCanaryCrd } from "../kube/canary-crd.ts";
import { createKubeClient, type KubeClient } from "../kube/client.ts";
import { RESOURCES } from "../kube/resources.ts";
import { createLogger, errorMessage, type Logger, temporalLogger } from "../log.ts";
import {
  connectWorker,
  loadTemporalSettings,
  openTemporal,
  type TemporalTarget,
} from "../temporal/connection.ts";
import type { ServerExit } from "../temporal/embedded.ts";
import { runWorker, type WorkerOptions } from "../worker.ts";
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

/** A stoppable part of the running operator, stopped in reverse order of starting. */
interface Part {
  readonly name: string;
  stop(): Promise<void>;
}

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
  const log = createLogger(flags.logLevel, { format: flags.logFormat });
  Runtime.install({ logger: temporalLogger(log) });
  const config = operatorConfig(flags, { embeddedTemporal: loadTemporalSettings().mode === "embedded" });
  const kube = kubeClientOrExplain(flags);
  const stopping = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log.info({ signal }, "shutting down");
      stopping.abort();
    });
  }
  /** Why the operator stops by itself: it then exits non-zero with this reason. */
  let failure: Error | undefined;
  const fail = (reason: string) => {
    failure ??= new Error(reason);
    stopping.abort();
  };

  const target = await openTemporal(loadTemporalSettings(), {
    handleSignals: false,
    log: (line) => log.info(line),
    ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
  });
  void target.embedded?.exited.then((exit: ServerExit) => {
    log.error({ code: exit.code, signal: exit.signal }, "the embedded Temporal server exited");
    fail(
      `the embedded Temporal server exited (${exit.signal ?? `code ${exit.code}`}); its last log lines:\n${exit.logTail}`,
    );
  });
  // Lazy: the operator starts, and says on /readyz, while Temporal cannot be reached yet.
  const connection = Connection.lazy(target.connection);
  const client = new Client({ connection, namespace: target.namespace });
  const parts: Part[] = [];
  let worker: Promise<void> | undefined;
  try {
    let temporalUp = false;
    let temporalError = "not asked yet";
    let workerRunning = false;
    let controller: Controller | undefined;
    const temporalStatus = (ok: boolean, error?: unknown) => {
      if (ok && !temporalUp) {
        log.info("Temporal is reachable: sending every Canary's state");
        controller?.resyncAll();
      }
      if (!ok && temporalUp) log.warn({ error: errorMessage(error) }, "Temporal is unreachable");
      temporalUp = ok;
      temporalError = ok ? "" : errorMessage(error);
    };

    // The worker starts first: its connection and workflow threads come up while the HTTP port
    // opens and the informer lists the Canaries.
    if (flags.role !== "controller") {
      worker = startWorker(target, stopping.signal, log, {
        namespace: target.namespace,
        config,
        kubeconfig: flags.kubeconfig,
        allNamespaces: flags.namespace === undefined,
        log,
        taskQueue: flags.taskQueue,
        workflowCacheSize: flags.workflowCacheSize,
        settings: {
          selectorLabels: config.selectorLabels,
          includeLabelPrefixes: config.includeLabelPrefixes,
          configTracking: config.configTracking,
        },
        signal: stopping.signal,
        onPolling: () => {
          workerRunning = true;
          flushCompileCache();
        },
      }).then(
        () => {
          workerRunning = false;
          if (!stopping.signal.aborted) fail("the worker stopped");
        },
        (err: unknown) => {
          workerRunning = false;
          log.error({ error: errorMessage(err) }, "the worker failed");
          fail(`the worker failed: ${errorMessage(err)}`);
        },
      );
    }

    const metrics = new OperatorMetrics({
      version: packageVersion(),
      meshProvider: config.meshProvider,
      canaries: () => canaries.list(),
      queueDepth: () => controller?.queueDepth ?? 0,
      isLeader: () => controller !== undefined,
      temporalUp: () => temporalUp,
      kubeRequests: () => kube.counter.snapshot(),
    });
    const canaries: Informer = new Informer(kube, RESOURCES.canaries, {
      namespace: flags.namespace,
      onChange: (object, kind) => {
        metrics.canaryChanged(object, kind);
        controller?.canaryChanged(object, kind);
      },
      onError: (err, retryInMs) =>
        log.warn({ retryInMs, error: errorMessage(err) }, "watch of canaries failed"),
    });
    const http = await startOperatorHttp({
      listen: flags.listen,
      registry: metrics.registry,
      checks: {
        kubernetes: () => {
          const ok = canaries.synced && (controller?.synced ?? true);
          return { ok, detail: ok ? "informers synced" : "informers not synced yet" };
        },
        temporal: () => ({
          ok: temporalUp,
          detail: temporalUp ? `reachable (namespace ${target.namespace})` : `unreachable: ${temporalError}`,
        }),
        ...(flags.role !== "controller"
          ? { worker: () => ({ ok: workerRunning, detail: workerRunning ? "polling" : "not polling" }) }
          : {}),
      },
    });
    parts.push({ name: "http", stop: () => new Promise((resolve) => http.server.close(() => resolve())) });
    log.info({ url: http.url }, "serving /healthz, /readyz and /metrics");

    // The namespace, not just the server: a key or certificate without access to it is not ready.
    const ping = () =>
      boundedCall(client, temporalPingMs, () =>
        client.workflowService.describeNamespace({ namespace: target.namespace }),
      ).then(
        () => temporalStatus(true),
        (err: unknown) => temporalStatus(false, err),
      );
    // A foreign Canary CRD would silently drop fields the operator writes: refuse to run on it.
    const crdCheck = checkCanaryCrd(kube).then((check) => {
      if (check.state === "foreign") {
        log.error(check.message);
        fail(check.message);
      } else if (check.state === "unknown") log.warn(check.message);
    });
    // One round trip each, at the same time.
    parts.push({ name: "canary informer", stop: () => canaries.stop() });
    await Promise.all([ping(), canaries.start(), crdCheck]);
    const pinging = setInterval(ping, temporalPingMs);
    pinging.unref();
    parts.push({ name: "temporal ping", stop: async () => clearInterval(pinging) });

    if (flags.role !== "worker" && !stopping.signal.aborted) {
      const lead = async () => {
        const next = new Controller({
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
      parts.push(
        flags.leaderElection ? elect(flags, kube, log, lead, stepDown) : await leadAlone(lead, stepDown),
      );
    }
    if (!stopping.signal.aborted) log.info({ role: flags.role, uiUrl: target.uiUrl }, "operator ready");
    // Node writes its compile cache (main.ts) at exit, which a killed process never reaches: write
    // it now, so the restart after a SIGKILL or an OOM kill starts from it.
    flushCompileCache();

    await new Promise<void>((resolve) => {
      if (stopping.signal.aborted) resolve();
      stopping.signal.addEventListener("abort", () => resolve(), { once: true });
    });
  } finally {
    await stopAll(parts, log);
    // Without its server the worker cannot finish its tasks: do not wait out the grace time.
    await (failure ? Promise.race([worker, sleep(5000)]) : worker);
    await connection.close();
    await target.embedded?.stop();
  }
  if (failure) throw failure;
}

/**
 * The worker, once its connection is up: Temporal may be unreachable at start, so connecting is
 * retried with a backoff (and /readyz says the worker does not poll) until it succeeds or the
 * operator stops. Resolves when the worker has drained after `stop`.
 */
async function startWorker(
  target: TemporalTarget,
  stop: AbortSignal,
  log: Logger,
  options: Omit<WorkerOptions, "connection">,
): Promise<void> {
  let delayMs = 1000;
  let connection: Awaited<ReturnType<typeof connectWorker>> | undefined;
  while (!connection) {
    if (stop.aborted) return;
    try {
      connection = await connectWorker(target);
    } catch (err) {
      log.warn(
        { retryInMs: delayMs, error: errorMessage(err) },
        "worker: cannot connect to Temporal; retrying",
      );
      await sleep(delayMs, undefined, { signal: stop }).catch(() => undefined);
      delayMs = Math.min(delayMs * 2, 30_000);
    }
  }
  try {
    await runWorker({ ...options, connection });
  } finally {
    await connection.close();
  }
}

/** The controller runs while this replica holds the Lease. */
function elect(
  flags: RunFlags,
  kube: KubeClient,
  log: Logger,
  lead: () => Promise<void>,
  stepDown: () => Promise<void>,
): Part {
  const election = new LeaderElection({
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
  return { name: "leader election", stop: () => election.stop() };
}

async function leadAlone(lead: () => Promise<void>, stepDown: () => Promise<void>): Promise<Part> {
  await lead();
  return { name: "controller", stop: stepDown };
}

async function stopAll(parts: Part[], log: Logger): Promise<void> {
  for (const part of parts.splice(0).reverse()) {
    await part
      .stop()
      .catch((err: unknown) => log.warn({ part: part.name, error: errorMessage(err) }, "stop failed"));
  }
}
