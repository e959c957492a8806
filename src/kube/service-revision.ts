/**
 * The revision of a Kubernetes Service target: a hash of its spec, as Flagger takes it (any change
 * to the Service's spec is a new version to analyse). The controller computes it from its cache and
 * the activities from a GET of the same object, so both must see the same fields.
 */
import { createHash } from "node:crypto";
import type { V1Service } from "@kubernetes/client-node";
import { canonicalJson } from "./configs.ts";

export function serviceRevision(service: Pick<V1Service, "spec">): string {
  return createHash("sha256")
    .update(canonicalJson({ service: service.spec ?? {} }))
    .digest("hex")
    .slice(0, 16);
}
