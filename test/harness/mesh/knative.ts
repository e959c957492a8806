/**
 * TEST CODE ONLY: a Knative Service's split, as Knative routes it. The Service is the target
 * itself; its `spec.traffic` gives each target a percent: one with `latestRevision` follows the
 * newest ready revision (the canary), one with a `revisionName` stays on that revision (the
 * primary). Without a traffic block the Service's one revision takes everything: nothing is
 * split yet, so it counts as the primary.
 */
import { ALL_TO_PRIMARY, customSpec, type SplitReader, toSplit } from "./split.ts";

interface TrafficTarget {
  readonly latestRevision?: boolean;
  readonly revisionName?: string;
  readonly percent?: number;
}

const SERVICES = { group: "serving.knative.dev", version: "v1", plural: "services" };

export const readKnativeSplit: SplitReader = async (app, clients) => {
  const spec = await customSpec(clients, app, SERVICES, app.target);
  const traffic = spec?.traffic as readonly TrafficTarget[] | undefined;
  if (!traffic || traffic.length === 0) return ALL_TO_PRIMARY;
  return toSplit(
    traffic.map((t) => ({
      backend: t.latestRevision ? "canary" : t.revisionName ? "primary" : undefined,
      // Knative: a target without a percent gets none.
      weight: t.percent ?? 0,
    })),
    false,
    0,
  );
};
