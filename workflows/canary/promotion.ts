/**
 * The steps after analysis. Promoting moves traffic back to the primary, which now runs the
 * promoted revision, a step at a time once the primary is ready; Finalising (the canary scaled
 * down) marks the rollout Succeeded.
 */
import { activityOptions } from "../activity-port.ts";
import { call, cluster } from "./calls.ts";
import { feed } from "./effects.ts";
import { halt } from "./reporting.ts";
import type { Run } from "./run.ts";

/** One step of traffic back to the primary; the last one scales the canary down and finishes. */
export async function promotionStep(run: Run): Promise<void> {
  if (run.hardened()) {
    const primary = await call(run, "cluster", "primaryReadiness", "check the primary is ready");
    if (!primary.ready) {
      halt(run, `Waiting for the primary to be ready before traffic moves back to it: ${primary.message}`);
      return;
    }
    run.lastHalt = "";
  } else {
    await cluster.checkPrimaryReady.executeWithOptions(
      { ...activityOptions.cluster, summary: "wait for the primary to be ready" },
      [run.target()],
    );
  }
  await feed(run, { type: "promotionStep" });
  // The canary was scaled down by the promotion step's effects.
  if (run.phaseNow() === "Finalising") await feed(run, { type: "finalised" });
}

export async function finalisingStep(run: Run): Promise<void> {
  await feed(run, { type: "finalised" });
}
