/**
 * Optimistic concurrency: a read-modify-write that lost a race (409 Conflict) reads again and
 * retries, a few times with a short jittered backoff, like client-go's RetryOnConflict.
 */
import { isConflict } from "./errors.ts";

export interface ConflictRetryOptions {
  readonly attempts?: number;
  readonly baseDelayMs?: number;
}

/** Runs `attempt` (which must re-read what it modifies) until it does not conflict. */
export async function retryOnConflict<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: ConflictRetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 10;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isConflict(err) || n >= attempts) throw err;
      const delay = baseDelayMs * 2 ** (n - 1) * (1 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
