/**
 * One worker process for the scale and memory benchmarks, started by bench/scale-world.ts: the
 * operator's worker options (src/worker.ts) with the in-memory cluster models as activities, so
 * its RSS is a worker's alone. It tells its parent over IPC when a canary's phase changes or a
 * route is written, and answers memory questions. Not run by hand.
 *
 * Environment: DC_BENCH_WORKER = JSON of WorkerProcessSettings.
 */
import { readFileSync } from "node:fs";
import v8 from "node:v8";
import {
  DefaultLogger,
  makeTelemetryFilterString,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
} from "@temporalio/worker";
import { resolvingSpecs } from "../activities/target-spec.ts";
import { workerTuning } from "../src/temporal/worker-tuning.ts";
import { ClusterModel, modelActivities } from "../test/workflows/model.ts";
import type { CanaryActivities, Target } from "../workflows/activity-port.ts";
import type { FromWorker, ToWorker, WorkerProcessSettings } from "./scale-ipc.ts";

const settings = JSON.parse(process.env.DC_BENCH_WORKER ?? "{}") as WorkerProcessSettings;
const send = (message: FromWorker) => process.send?.(message);

/** A model per canary, made on first use: the parent starts canaries, this process runs them. */
class Models extends Map<string, ClusterModel> {
  override get(key: string): ClusterModel {
    let model = super.get(key);
    if (!model) {
      model = new ClusterModel("r1");
      this.set(key, model);
    }
    return model;
  }
}
const models = new Models();

/** The phase this process last told its parent for each canary. */
const toldPhase = new Map<string, string | undefined>();

function report(key: string): void {
  const model = models.get(key);
  // The parent keeps the timings, so the model need not keep every route change.
  for (const change of model.routeLog.splice(0)) {
    send({ type: "route", key, at: change.at, weight: change.routes.canaryWeight });
  }
  const phase = model.lastStatus?.phase;
  if (phase !== toldPhase.get(key)) send({ type: "phase", key, phase: phase ?? "", at: Date.now() });
  toldPhase.set(key, phase);
}

/** Every activity the model has (the port may grow), each reporting its canary's changes after it runs. */
function reportingActivities(): CanaryActivities {
  return Object.fromEntries(
    Object.entries(modelActivities(models)).map(([name, run]) => [
      name,
      async (...args: unknown[]) => {
        try {
          return await (run as (...a: unknown[]) => Promise<unknown>)(...args);
        } finally {
          const ref = (args[0] as Target | undefined)?.ref;
          if (ref) report(`${ref.namespace}/${ref.name}`);
        }
      },
    ]),
  ) as unknown as CanaryActivities;
}

// Errors only, the core's too (it prints to the console by itself): an overloaded worker's
// warnings (slow workflow tasks) would bury the figures, which show the overload as step lag.
Runtime.install({
  logger: new DefaultLogger("ERROR"),
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: "ERROR", other: "ERROR" }) } },
});
const connection = await NativeConnection.connect({ address: settings.address });
const worker = await Worker.create({
  ...workerTuning,
  ...(settings.options as Partial<WorkerOptions>),
  connection,
  namespace: settings.namespace,
  taskQueue: settings.taskQueue,
  workflowBundle: { code: readFileSync(settings.bundleFile, "utf8") },
  activities: resolvingSpecs(reportingActivities()),
});
const running = worker.run();

process.on("message", (message: ToWorker) => {
  if (message.type === "stop") worker.shutdown();
  if (message.type === "memory") {
    const heap = v8.getHeapStatistics();
    send({
      type: "memory",
      usage: process.memoryUsage(),
      heapLimit: heap.heap_size_limit,
      contexts: heap.number_of_native_contexts,
    });
  }
});
// The parent went away (it crashed or was killed): stop rather than run on unattended.
process.on("disconnect", () => {
  if (worker.getState() === "RUNNING") worker.shutdown();
});
send({ type: "ready" });
await running;
await connection.close();
process.disconnect?.();
