/**
 * TEST CODE ONLY: a TraefikService's split, as Traefik balances it (the weighted kind the router
 * writes) or mirrors it (the mirroring kind, which a user may write by hand).
 */
import { ALL_TO_PRIMARY, classify, customSpec, type SplitReader, toSplit } from "./split.ts";

interface Backend {
  readonly name?: string;
  readonly weight?: number;
  readonly percent?: number;
}

const TRAEFIK_SERVICES = { group: "traefik.io", version: "v1alpha1", plural: "traefikservices" };

export const readTraefikServiceSplit: SplitReader = async (app, clients) => {
  const spec = await customSpec(clients, app, TRAEFIK_SERVICES, app.service);
  if (!spec) return ALL_TO_PRIMARY;
  // Traefik reads the weighted kind first when both are set.
  const weighted = spec.weighted as { services?: readonly Backend[] } | undefined;
  if (weighted) {
    // Traefik: a service without a weight has weight 1.
    const services = (weighted.services ?? []).map((s) => ({
      backend: classify(app, s.name),
      weight: s.weight ?? 1,
    }));
    return toSplit(services, false, 0);
  }
  const mirroring = spec.mirroring as (Backend & { mirrors?: readonly Backend[] }) | undefined;
  if (mirroring) {
    // All traffic to the main service; each mirror gets a copy of `percent` of it (none when unset).
    const mirror = (mirroring.mirrors ?? []).find((m) => classify(app, m.name) === "canary");
    return toSplit([{ backend: classify(app, mirroring.name), weight: 100 }], false, mirror?.percent ?? 0);
  }
  throw new Error(`TraefikService ${app.namespace}/${app.service} is neither weighted nor mirroring`);
};
