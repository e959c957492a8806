/**
 * The routing provider interface: every traffic provider (mesh, gateway, plain Services) is one
 * implementation, chosen by `spec.provider` (registry.ts).
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import type { KubeClient, KubeObject } from "../../src/kube/client.ts";
import type { CanaryIdentity } from "../../src/kube/metadata.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import { retryOnConflict } from "../../src/kube/retry.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";
import { holdsAll } from "../applied-already.ts";
import { adopt, isManaged, originalOf, recordOriginal } from "../ownership.ts";
import type { WorkloadSettings } from "../workload.ts";

export interface RouterContext {
  readonly kube: KubeClient;
  readonly namespace: string;
  readonly spec: ResolvedCanarySpec;
  /** The canary's revision, for what depends on it (session-affinity cookies). */
  readonly revision: string | undefined;
  readonly settings: WorkloadSettings;
}

export interface Router {
  /**
   * Creates or updates the routing objects; new ones send all traffic to the primary, existing
   * ones keep their weights (initialize then sets 100/0 itself, before scaling the target down).
   */
  reconcile(ctx: RouterContext, owner: CanaryIdentity): Promise<void>;
  /** Routes traffic: weights, mirroring, and (A/B testing) requests matching analysis.match. */
  setRoutes(ctx: RouterContext, routes: Routes): Promise<void>;
  getRoutes(ctx: RouterContext): Promise<Routes>;
  /** On deletion: removes the routing objects the Canary created and gives back the ones it took over. */
  finalize(ctx: RouterContext, owner: CanaryIdentity): Promise<void>;
}

/** A routing object a provider builds from the spec (and, for the one carrying weights, the routes). */
export interface RoutingObject {
  readonly type: ResourceType;
  readonly name: string;
  build(routes: Routes): KubeObject;
}

/** The spec of an object from before the operator took it over. */
interface Original {
  readonly spec?: unknown;
}

/**
 * A router whose traffic split lives in custom resources (HTTPRoute, VirtualService): the first
 * object carries the weights (`weighted`, read back by `parse`); the others (DestinationRules)
 * only follow the spec. Every write is a server-side apply of the whole configuration, so
 * setRoutes is one request and also carries spec changes (timeouts, matches) to the object.
 */
export class ObjectRouter implements Router {
  readonly #objects: (ctx: RouterContext) => { weighted: RoutingObject; others: readonly RoutingObject[] };
  readonly #parse: (ctx: RouterContext, object: KubeObject) => Routes;

  constructor(
    objects: (ctx: RouterContext) => { weighted: RoutingObject; others: readonly RoutingObject[] },
    parse: (ctx: RouterContext, object: KubeObject) => Routes,
  ) {
    this.#objects = objects;
    this.#parse = parse;
  }

  async reconcile(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    const { weighted, others } = this.#objects(ctx);
    for (const object of [...others, weighted]) {
      const existing = await ctx.kube.find(object.type, ctx.namespace, object.name);
      // Owned or already taken over, the object carries the rollout's weights: keep them (promotion
      // reconciles before the primary has rolled out). A first take-over starts at 100/0.
      let routes = PRIMARY_ONLY;
      const ours = existing && (isManaged(existing, owner) || originalOf(existing) !== undefined);
      if (existing && ours && object === weighted) routes = this.#parse(ctx, existing);
      if (existing) await recordOriginal(ctx.kube, object.type, existing, owner, { spec: existing.spec });
      const desired = object.build(routes);
      // Already as wanted (taken over from Flagger, or nothing changed): nothing is written.
      if (existing && holdsAll(existing, desired)) continue;
      const applied = await ctx.kube.apply(object.type, ctx.namespace, object.name, desired);
      if (!existing) await adopt(ctx.kube, object.type, applied, owner);
    }
  }

  async setRoutes(ctx: RouterContext, routes: Routes): Promise<void> {
    const { weighted } = this.#objects(ctx);
    await ctx.kube.apply(weighted.type, ctx.namespace, weighted.name, weighted.build(routes));
  }

  async getRoutes(ctx: RouterContext): Promise<Routes> {
    const { weighted } = this.#objects(ctx);
    return this.#parse(ctx, await ctx.kube.get(weighted.type, ctx.namespace, weighted.name));
  }

  async finalize(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    const { weighted, others } = this.#objects(ctx);
    for (const object of [weighted, ...others]) {
      await retryOnConflict(async () => {
        const existing = await ctx.kube.find(object.type, ctx.namespace, object.name);
        if (!existing) return;
        const original = originalOf<Original>(existing);
        if (original) {
          const annotations = { ...existing.metadata?.annotations };
          delete annotations[ORIGINAL_CONFIGURATION_ANNOTATION];
          await ctx.kube.replace(object.type, ctx.namespace, object.name, {
            ...existing,
            metadata: { ...existing.metadata, annotations },
            spec: original.spec,
          });
        } else if (isManaged(existing, owner)) {
          await ctx.kube.delete(object.type, ctx.namespace, object.name);
        }
      });
    }
  }
}

/** Drops undefined values and empty arrays from a configuration, so applies only say what is set. */
export function compact<T extends Record<string, unknown>>(object: T): T {
  return Object.fromEntries(
    Object.entries(object).filter(([, value]) => {
      if (value === undefined) return false;
      if (Array.isArray(value)) return value.length > 0;
      return true;
    }),
  ) as T;
}
