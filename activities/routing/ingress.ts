/**
 * What the Ingress-based routers (nginx, skipper) share. The user's Ingress, named by
 * `spec.ingressRef`, is only read; the router owns a copy of it, `<ingressRef.name>-canary`,
 * whose backends and annotations the provider rewrites. Reconcile writes the copy only when it
 * differs from what the user's Ingress and the current routes call for (created by an apply,
 * then patched); a weight step is one patch of its annotations (the provider's `writeRoutes`);
 * finalize deletes it.
 */
import { isDeepStrictEqual } from "node:util";
import type { V1Ingress, V1IngressBackend, V1IngressSpec } from "@kubernetes/client-node";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import type { JsonPatchOperation } from "../../src/kube/client.ts";
import type { CanaryIdentity } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";
import { invalidSpec, required } from "../errors.ts";
import { adopt, checkWritable, isManaged } from "../ownership.ts";
import { withoutTooling } from "../workload-primary.ts";
import type { Router, RouterContext } from "./router.ts";

export type Annotations = Record<string, string>;

export interface IngressProvider {
  readonly name: string;
  /** Refuses, as invalidSpec naming the field, what the provider cannot do. */
  check(spec: ResolvedCanarySpec): void;
  /** The copy's spec, from the user's (already checked to route to the apex Service). */
  spec(spec: ResolvedCanarySpec, user: V1IngressSpec): V1IngressSpec;
  /** The copy's annotations for `routes`, from the user's (without tooling metadata). */
  annotations(spec: ResolvedCanarySpec, user: Annotations, routes: Routes): Annotations;
  parse(spec: ResolvedCanarySpec, annotations: Annotations): Routes;
  /** One request: the annotations that carry `routes`, patched onto the existing copy. */
  writeRoutes(ctx: RouterContext, name: string, routes: Routes): Promise<void>;
}

function ingressNames(spec: ResolvedCanarySpec, provider: string): { user: string; canary: string } {
  const ref = spec.ingressRef;
  if (!ref) {
    throw invalidSpec(
      `the ${provider} provider routes through an Ingress: set ingressRef to the Ingress (networking.k8s.io/v1) ` +
        `that routes to Service ${serviceNames(spec).apex}`,
    );
  }
  if (ref.kind !== "Ingress") {
    throw invalidSpec(`ingressRef.kind must be Ingress for the ${provider} provider, not ${ref.kind}`);
  }
  return { user: ref.name, canary: `${ref.name}-canary` };
}

/**
 * The user's Ingress spec with each path to the apex Service replaced by one path per backend
 * `rewrite` gives for it: the first in its place, any others at the end of its rule.
 */
export function rewritePaths(
  spec: ResolvedCanarySpec,
  user: V1IngressSpec,
  rewrite: (backend: V1IngressBackend) => V1IngressBackend[],
): V1IngressSpec {
  const apex = serviceNames(spec).apex;
  let found = false;
  const rules = (user.rules ?? []).map((rule) => {
    if (!rule.http) return rule;
    const paths = rule.http.paths.map((path) => {
      if (path.backend.service?.name !== apex) return [path];
      found = true;
      return rewrite(path.backend).map((backend) => ({ ...path, backend }));
    });
    // Original positions first, then any extra backends a path gained, as one list per rule.
    const firsts = paths.map((p) => p[0]).filter((p) => p !== undefined);
    return { ...rule, http: { ...rule.http, paths: [...firsts, ...paths.flatMap((p) => p.slice(1))] } };
  });
  if (!found) {
    throw invalidSpec(
      `Ingress ${spec.ingressRef?.name} (ingressRef) has no rule path whose backend is Service ${apex}: ` +
        "route the application's paths to that Service (service.name, else targetRef.name)",
    );
  }
  return { ...user, rules };
}

/** The backend with another Service name, keeping its port. */
export function toService(backend: V1IngressBackend, name: string): V1IngressBackend {
  return { ...backend, service: { ...backend.service, name } };
}

/** JSON pointer to a label or annotation (RFC 6901 escapes "~" and "/"). */
export function metadataPath(field: "labels" | "annotations", key: string): string {
  return `/metadata/${field}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

/** Keys of `metadata.<field>` that `manager` wrote, by apply or by patch. */
function ownedKeys(object: V1Ingress, manager: string, field: "labels" | "annotations"): Set<string> {
  const keys = new Set<string>();
  for (const entry of object.metadata?.managedFields ?? []) {
    if (entry.manager !== manager) continue;
    const fields = (entry.fieldsV1 as Record<string, Record<string, object>> | undefined)?.["f:metadata"]?.[
      `f:${field}`
    ];
    for (const key of Object.keys(fields ?? {})) if (key.startsWith("f:")) keys.add(key.slice(2));
  }
  return keys;
}

/**
 * The JSON patch that turns `existing` into `desired`: its spec, every wanted label and
 * annotation, and the removal of those the operator wrote and no longer wants (one the user
 * dropped from their Ingress, an A/B rule of an earlier spec). Labels and annotations others set
 * are theirs. A patch rather than an apply: an apply cannot remove what the operator's own
 * routing patches also wrote.
 */
function changes(existing: V1Ingress, desired: V1Ingress, manager: string): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  if (!isDeepStrictEqual(existing.spec, desired.spec))
    ops.push({ op: "add", path: "/spec", value: desired.spec });
  for (const field of ["labels", "annotations"] as const) {
    const want = desired.metadata?.[field] ?? {};
    const have = existing.metadata?.[field];
    if (have === undefined) {
      if (Object.keys(want).length > 0) ops.push({ op: "add", path: `/metadata/${field}`, value: want });
      continue;
    }
    for (const [key, value] of Object.entries(want)) {
      if (have[key] !== value) ops.push({ op: "add", path: metadataPath(field, key), value });
    }
    for (const key of ownedKeys(existing, manager, field)) {
      if (key in have && !(key in want)) ops.push({ op: "remove", path: metadataPath(field, key) });
    }
  }
  return ops;
}

export class IngressRouter implements Router {
  readonly #provider: IngressProvider;

  constructor(provider: IngressProvider) {
    this.#provider = provider;
  }

  async reconcile(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    const provider = this.#provider;
    const names = ingressNames(ctx.spec, provider.name);
    provider.check(ctx.spec);
    const user = await required(
      ctx.kube.get<V1Ingress>(RESOURCES.ingresses, ctx.namespace, names.user),
      `Ingress ${ctx.namespace}/${names.user} (ingressRef)`,
      `create it, routing to Service ${serviceNames(ctx.spec).apex}, or fix ingressRef`,
    );
    const existing = await ctx.kube.find<V1Ingress>(RESOURCES.ingresses, ctx.namespace, names.canary);
    checkWritable(
      ctx.kube,
      existing,
      { kind: "Ingress", namespace: ctx.namespace, name: names.canary },
      owner,
      {
        fix: `delete or rename it: the ${provider.name} provider creates it as the canary copy of Ingress ${names.user}`,
      },
    );
    const managed = existing !== undefined && isManaged(existing, owner);
    // An existing copy keeps its weights: reconcile runs mid-analysis too (on promotion).
    const routes = managed ? this.#parse(ctx.spec, existing) : PRIMARY_ONLY;
    const desired: V1Ingress = {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: names.canary,
        namespace: ctx.namespace,
        labels: withoutTooling(user.metadata?.labels),
        annotations: provider.annotations(ctx.spec, withoutTooling(user.metadata?.annotations), routes),
      },
      spec: provider.spec(ctx.spec, user.spec ?? {}),
    };
    if (managed) {
      const patch = changes(existing, desired, ctx.kube.fieldManager);
      if (patch.length > 0) await ctx.kube.jsonPatch(RESOURCES.ingresses, ctx.namespace, names.canary, patch);
      return;
    }
    const applied = await ctx.kube.apply<V1Ingress>(
      RESOURCES.ingresses,
      ctx.namespace,
      names.canary,
      desired,
    );
    await adopt(ctx.kube, RESOURCES.ingresses, applied, owner);
  }

  async setRoutes(ctx: RouterContext, routes: Routes): Promise<void> {
    const names = ingressNames(ctx.spec, this.#provider.name);
    this.#provider.check(ctx.spec);
    if (routes.mirror) throw invalidSpec(`the ${this.#provider.name} provider cannot mirror traffic`);
    await this.#provider.writeRoutes(ctx, names.canary, routes);
  }

  async getRoutes(ctx: RouterContext): Promise<Routes> {
    const names = ingressNames(ctx.spec, this.#provider.name);
    const canary = await ctx.kube.get<V1Ingress>(RESOURCES.ingresses, ctx.namespace, names.canary);
    return this.#parse(ctx.spec, canary);
  }

  /** Deletes the copy; the user's Ingress was never changed, so there is nothing to give back. */
  async finalize(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    const ref = ctx.spec.ingressRef;
    if (ref === undefined) return;
    const name = `${ref.name}-canary`;
    const existing = await ctx.kube.find<V1Ingress>(RESOURCES.ingresses, ctx.namespace, name);
    if (existing && isManaged(existing, owner))
      await ctx.kube.delete(RESOURCES.ingresses, ctx.namespace, name);
  }

  #parse(spec: ResolvedCanarySpec, ingress: V1Ingress): Routes {
    return this.#provider.parse(spec, ingress.metadata?.annotations ?? {});
  }
}
