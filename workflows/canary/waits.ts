/**
 * How the canary workflow waits: for a message, for a time, or for a long activity. Every wait
 * first sends what the step has to report, and any message ends it at once.
 */
import { CancellationScope, condition } from "@temporalio/workflow";
import { flushReports } from "./reporting.ts";
import type { Run } from "./run.ts";

/** Waits for a message, once what the step has to report is on its way. */
export async function waitForMail(run: Run): Promise<void> {
  flushReports(run);
  await condition(() => run.hasMail());
}

/**
 * One durable timer until `untilMs`, which any message ends at once. True when the timer ran out
 * (there was one, and no message ended it).
 */
export async function sleepUntil(run: Run, untilMs: number, summary: string): Promise<boolean> {
  flushReports(run);
  const ms = untilMs - run.now();
  if (ms <= 0 || run.hasMail()) return false;
  return !(await condition(() => run.hasMail(), ms, { summary }));
}

/**
 * Runs an activity that may take long (readiness), cancelling it when a message arrives so
 * the message is handled at once. Returns undefined when interrupted.
 */
export async function interruptible<T>(run: Run, work: () => Promise<T>): Promise<{ value: T } | undefined> {
  flushReports(run);
  return CancellationScope.cancellable(async () => {
    const done = work().then((value) => ({ value }));
    const mail = condition(() => run.hasMail()).then(() => undefined);
    try {
      return await Promise.race([done, mail]);
    } finally {
      CancellationScope.current().cancel();
      await done.catch(() => undefined);
    }
  });
}
