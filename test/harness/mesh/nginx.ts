/**
 * TEST CODE ONLY: ingress-nginx's split for an app routed by an Ingress with a canary copy
 * (`<routingObject>-canary`). ingress-nginx serves the user's Ingress (to the apex Service, the
 * primary) and sends a share of the same hosts' and paths' requests to the backends of an Ingress
 * marked `canary: "true"`: `canary-weight` out of `canary-weight-total` (100 unless set), an
 * unreadable weight counting as 0. A `canary-by-header` or `canary-by-cookie` rule sends the
 * requests it matches there whatever the weight.
 */
import { backendServices, canaryIngress } from "./ingress.ts";
import { ALL_TO_PRIMARY, classify, type SplitReader, toSplit } from "./split.ts";

const PREFIX = "nginx.ingress.kubernetes.io/";

function integer(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return text !== undefined && Number.isInteger(value) && value >= 0 ? value : fallback;
}

export const readNginxSplit: SplitReader = async (app, clients) => {
  const ingress = await canaryIngress(app, clients);
  const annotations = ingress?.metadata?.annotations ?? {};
  if (!ingress || annotations[`${PREFIX}canary`] !== "true") return ALL_TO_PRIMARY;
  // The copy's backend for the app's paths (other paths belong to other applications).
  const side = backendServices(ingress)
    .map((name) => classify(app, name))
    .find((s) => s !== undefined);
  if (side === undefined) return ALL_TO_PRIMARY;
  const total = integer(annotations[`${PREFIX}canary-weight-total`], 100) || 100;
  const weight = Math.min(integer(annotations[`${PREFIX}canary-weight`], 0), total);
  const byRule =
    annotations[`${PREFIX}canary-by-header`] !== undefined ||
    annotations[`${PREFIX}canary-by-cookie`] !== undefined;
  return toSplit(
    [
      { backend: "primary", weight: total - weight },
      { backend: side, weight },
    ],
    byRule && side === "canary",
    0,
  );
};
