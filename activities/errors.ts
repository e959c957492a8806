/**
 * How Kubernetes failures reach the workflow: permanent ones (RBAC, missing objects, rejected
 * specs) become non-retryable application failures whose message tells the user what to fix;
 * everything else stays retryable (the API server may be restarting, a watch may have dropped).
 */
import { ApplicationFailure } from "@temporalio/common";
import { isForbidden, isInvalid, isNotFound, KubeApiError } from "../src/kube/errors.ts";
import {
  NON_RETRYABLE_ERRORS,
  type ReadinessReport,
  type WaitReadyOptions,
} from "../workflows/activity-port.ts";
import { currentActivity, waitControl } from "./activity-context.ts";

/**
 * How long after an activity was first scheduled a 401 or 403 is still retried: an API server
 * that just restarted answers them until its authenticator and RBAC caches are loaded, and a
 * healthy canary must not be rolled back for that. A real RBAC gap surfaces after this.
 */
export const AUTH_GRACE_MS = 60_000;

export function targetNotFound(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, NON_RETRYABLE_ERRORS.targetNotFound);
}

export function invalidSpec(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, NON_RETRYABLE_ERRORS.invalidSpec);
}

export function deadlineExceeded(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, NON_RETRYABLE_ERRORS.deadlineExceeded);
}

/** A condition that time may fix (a workload still rolling out): retried by Temporal. */
export function notReady(message: string): ApplicationFailure {
  return ApplicationFailure.retryable(message, "NotReady");
}

/** Reads an object the user must have created; its absence is permanent until they act. */
export async function required<T>(read: Promise<T>, what: string, fix: string): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) throw targetNotFound(`${what} not found: ${fix}`);
    throw err;
  }
}

/**
 * Maps errors that retrying cannot fix to non-retryable failures: 401 (the operator's credentials
 * are not accepted), 403 (the message names the missing RBAC rule), a resource type the cluster
 * does not serve (a CRD to install) and 400/422 (the API server rejected what the spec asked for).
 */
export function toActivityFailure(err: unknown, nowMs = Date.now()): unknown {
  if (!(err instanceof KubeApiError)) return err;
  const firstScheduled = currentActivity()?.info.scheduledTimestampMs;
  if (
    (err.code === 401 || isForbidden(err)) &&
    firstScheduled !== undefined &&
    nowMs - firstScheduled < AUTH_GRACE_MS
  ) {
    return ApplicationFailure.retryable(
      `${err.message} (retrying: the API server may have just restarted)`,
      "AuthNotReady",
    );
  }
  if (err.code === 401) {
    const where = err.namespace === undefined ? "" : ` in namespace ${err.namespace}`;
    return ApplicationFailure.nonRetryable(
      `the API server did not accept the operator's credentials (HTTP 401 Unauthorized) to ${err.verb} ` +
        `${err.resource}${where}: check the operator's service account token, or the kubeconfig it runs with`,
      NON_RETRYABLE_ERRORS.forbidden,
    );
  }
  if (isForbidden(err)) return ApplicationFailure.nonRetryable(err.message, NON_RETRYABLE_ERRORS.forbidden);
  if (err.typeNotServed)
    return ApplicationFailure.nonRetryable(err.message, NON_RETRYABLE_ERRORS.invalidSpec);
  if (isInvalid(err)) {
    return ApplicationFailure.nonRetryable(
      `${err.message}: check the Canary spec fields this object is built from`,
      NON_RETRYABLE_ERRORS.invalidSpec,
    );
  }
  return err;
}

/** Wraps an activity so every failure goes through toActivityFailure. */
export function guarded<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toActivityFailure(err);
    }
  };
}

/**
 * For a readiness read once per attempt (Temporal retries the activity): not ready is a retryable
 * failure until the progress deadline has passed since the first attempt, then a permanent one.
 */
export function failUnlessReady(
  state: ReadinessReport,
  progressDeadlineSeconds: number,
  options: WaitReadyOptions,
  nowMs: number,
): void {
  if (state.ready) return;
  const deadlineAtMs = options.deadlineAtMs ?? waitControl(nowMs).sinceMs + progressDeadlineSeconds * 1000;
  if (nowMs < deadlineAtMs) throw notReady(`${state.message}; still waiting`);
  throw deadlineExceeded(
    `${state.message}; no progress within progressDeadlineSeconds (${progressDeadlineSeconds}s)`,
  );
}
