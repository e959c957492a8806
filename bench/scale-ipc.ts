/** The messages between the scale benchmarks and their worker processes (bench/scale-worker.ts). */

export interface WorkerProcessSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** A file holding the workflow bundle's code, built once by the parent for every worker. */
  bundleFile: string;
  /** Worker options over the operator's own (src/worker.ts), to measure one at a time. */
  options?: Record<string, unknown>;
}

export type ToWorker = { type: "stop" } | { type: "memory" };

export type FromWorker =
  | { type: "ready" }
  /**
   * A canary's last written status phase changed, at this worker's clock. `key` is
   * `namespace/name`. Workers' messages reach the parent in no common order: the newest counts.
   */
  | { type: "phase"; key: string; phase: string; at: number }
  /** A route write, at this worker's clock (the same host's as the parent's). */
  | { type: "route"; key: string; at: number; weight: number }
  | { type: "memory"; usage: NodeJS.MemoryUsage; heapLimit: number; contexts: number };
