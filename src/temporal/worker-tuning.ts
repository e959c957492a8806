/**
 * The worker's tuning, shared with the scale benchmarks so they measure what the operator runs.
 * A module of its own so the command line can name the defaults without loading the worker.
 */
import type { WorkerOptions } from "@temporalio/worker";

/**
 * Canary workflows kept in memory by default: each costs about 0.3 MiB (bench:memory), so the
 * worker stays near 500 MiB however many canaries there are. An idle canary out of the cache
 * costs nothing until a message wakes it, and its short history replays in milliseconds.
 */
export const DEFAULT_WORKFLOW_CACHE_SIZE = 1000;

export const workerTuning = {
  // A killed worker's cached workflows move to another worker after this instead of 10 s
  // (bench:durability: extra rollout time per kill p50 104 ms, against 2,081 ms at 2 s).
  stickyQueueScheduleToStartTimeout: "1s",
  maxCachedWorkflows: DEFAULT_WORKFLOW_CACHE_SIZE,
} satisfies Partial<WorkerOptions>;
