/**
 * Resolves the spec digest the workflow sends (the compact-inputs patch) back into the spec the
 * activities work with. Each worker keeps the specs it has seen; on a miss it asks the workflow
 * that scheduled the activity (a query: nothing is written to its history) and checks the answer
 * against the digest.
 */
import { Context } from "@temporalio/activity";
import { ApplicationFailure } from "@temporalio/common";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type {
  CanaryActivities,
  CanaryActivityCalls,
  Target,
  TargetMessage,
} from "../workflows/activity-port.ts";
import { specQuery } from "../workflows/messages.ts";
import { specDigest } from "../workflows/spec-digest.ts";

/** Specs kept per worker: a few per canary is plenty, and a miss costs one query. */
const CACHE_SIZE = 2000;

export type SpecLookup = (
  message: TargetMessage & { specDigest: string },
) => Promise<ResolvedCanarySpec | undefined>;

/** Asks the workflow that scheduled the running activity. */
const askTheWorkflow: SpecLookup = async (message) => {
  const context = Context.current();
  const execution = context.info.workflowExecution;
  if (!execution)
    throw ApplicationFailure.nonRetryable("a spec digest needs the workflow that sent it", "InvalidSpec");
  return context.client.workflow
    .getHandle(execution.workflowId, execution.runId)
    .query(specQuery, message.specDigest);
};

export function resolvingSpecs(
  activities: CanaryActivities,
  lookup: SpecLookup = askTheWorkflow,
): CanaryActivityCalls {
  const cache = new Map<string, ResolvedCanarySpec>();

  async function resolve(message: TargetMessage): Promise<Target> {
    if (message.spec) return { ref: message.ref, revision: message.revision, spec: message.spec };
    const digest = message.specDigest;
    if (digest === undefined) {
      throw ApplicationFailure.nonRetryable(
        "the activity input carries neither a spec nor its digest",
        "InvalidSpec",
      );
    }
    const key = `${message.ref.namespace}/${message.ref.name}#${digest}`;
    let spec = cache.get(key);
    if (spec === undefined) {
      spec = await lookup({ ...message, specDigest: digest });
      // The workflow keeps its last few specs; an older one is only asked for by a stale retry.
      if (spec === undefined || specDigest(spec) !== digest) {
        throw ApplicationFailure.retryable(
          `the canary workflow no longer holds spec ${digest}`,
          "SpecUnavailable",
        );
      }
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(key, spec);
    }
    return { ref: message.ref, revision: message.revision, spec };
  }

  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (message: TargetMessage, ...rest: unknown[]) =>
        (fn as (target: Target, ...a: unknown[]) => Promise<unknown>)(await resolve(message), ...rest),
    ]),
  ) as unknown as CanaryActivityCalls;
}
