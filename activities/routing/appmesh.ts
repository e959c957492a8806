/**
 * AWS App Mesh, through its Kubernetes controller: `appmesh` writes the controller's
 * `appmesh.k8s.aws/v1beta1` API, `appmesh:v1beta2` its v1beta2 API. AWS has ended support for
 * App Mesh; the providers remain for meshes that still run, as Flagger keeps them.
 *
 * Both create, owned by the Canary: a VirtualNode for the primary and one for the canary (v1beta1
 * also one for the apex host, resolving to the primary), a virtual router for the apex host whose
 * first route splits traffic between the two nodes by weight, and one for the canary host that
 * sends everything to the canary. v1beta1 keeps router and routes inside its VirtualService;
 * v1beta2 has a VirtualRouter per host and a VirtualService naming it. A/B testing puts one route
 * per `analysis.match` condition (request headers) in front of one sending everything to the
 * primary. Retries (and with v1beta2 the timeout) come from `spec.service`; `service.hosts`
 * exposes the apex VirtualService on an App Mesh gateway. What both versions read from the spec is
 * in appmesh-model.ts; each version's `Dialect` (appmesh-dialects.ts) says only what its API
 * spells differently.
 */
import { isDeepStrictEqual } from "node:util";
import { serviceNames } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { type CanaryIdentity, ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import { adopt, isManaged, originalOf, readCanary } from "../ownership.ts";
import { readTarget, targetLabel } from "../workload.ts";
import { V1BETA1, V1BETA2 } from "./appmesh-dialects.ts";
import {
  apexRoutes,
  type Dialect,
  gatewayAnnotations,
  type Mesh,
  type MeshObject,
  mesh,
  type NodeInputs,
  nodeMetadata,
} from "./appmesh-model.ts";
import { ObjectRouter, type Router, type RouterContext } from "./router.ts";

/** Flagger's Canary annotation that turns on the Envoy access log of the VirtualNodes. */
const ACCESS_LOG_ANNOTATION = "appmesh.flagger.app/accesslog";

/**
 * Every object, the weighted one first. The spec is read when an object is built, so finalize,
 * which needs only names, works on a spec the router would refuse; VirtualNodes are built by
 * reconcile only, which reads their `inputs`.
 */
function meshObjects(
  dialect: Dialect,
  ctx: RouterContext,
  inputs?: NodeInputs,
): [MeshObject, ...MeshObject[]] {
  let built: Mesh | undefined;
  const model = () => {
    built ??= mesh(dialect.provider, ctx.spec, ctx.namespace);
    return built;
  };
  const { namespace } = ctx;
  const names = serviceNames(ctx.spec);
  const [weighted, ...apexOthers] = dialect.router(
    namespace,
    names.apex,
    model,
    (split) => apexRoutes(model(), split),
    gatewayAnnotations(ctx.spec),
  );
  const canaryRouter = dialect.router(
    namespace,
    names.canary,
    model,
    () => [{ name: names.canary, split: routeTo(100) }],
    {},
  );
  const nodes = dialect.nodes(names, namespace).map(
    (node): MeshObject => ({
      type: dialect.virtualNodes,
      name: node.name,
      build: () => {
        if (inputs === undefined) throw new Error("VirtualNodes are built by reconcile only");
        return {
          apiVersion: `appmesh.k8s.aws/${dialect.virtualNodes.version}`,
          kind: "VirtualNode",
          metadata: nodeMetadata(model(), node.name),
          spec: dialect.nodeSpec(model(), node, inputs),
        };
      },
    }),
  );
  return [weighted, ...apexOthers, ...canaryRouter, ...nodes];
}

function parse(dialect: Dialect, ctx: RouterContext, object: KubeObject): Routes {
  const names = serviceNames(ctx.spec);
  const targets = dialect.targets(object);
  const weight = (node: string) =>
    targets.filter((t) => t.node === node).reduce((sum, t) => sum + t.weight, 0);
  return { primaryWeight: weight(names.primary), canaryWeight: weight(names.canary), mirror: false };
}

/**
 * Creates, updates or takes over one object, writing nothing when it already reads as built.
 * Objects the Canary created are applied. One the user had is replaced instead, its spec recorded
 * (for finalize) in the first replacement: an apply would merge into the user's own fields (a
 * VirtualService naming both a virtual node and a router). Fields the App Mesh controller sets
 * (`kept`) survive either way.
 */
async function reconcileMeshObject(
  ctx: RouterContext,
  owner: CanaryIdentity,
  object: MeshObject,
  kept: readonly string[],
  build: (current: KubeObject | undefined) => KubeObject,
): Promise<void> {
  const { kube, namespace } = ctx;
  const existing = await kube.find(object.type, namespace, object.name);
  const managed = existing !== undefined && isManaged(existing, owner);
  const takenOver = existing !== undefined && originalOf(existing) !== undefined;
  const desired = build(managed || takenOver ? existing : undefined);
  if (existing && readsAs(existing, desired, kept)) return;
  if (existing && !managed) {
    const spec = existing.spec as Record<string, unknown> | undefined;
    const annotations = { ...existing.metadata?.annotations, ...desired.metadata?.annotations };
    if (!takenOver) annotations[ORIGINAL_CONFIGURATION_ANNOTATION] = JSON.stringify({ spec });
    await kube.replace(object.type, namespace, object.name, {
      ...existing,
      metadata: {
        ...existing.metadata,
        labels: { ...existing.metadata?.labels, ...desired.metadata?.labels },
        annotations,
      },
      spec: { ...pick(spec, kept), ...(desired.spec as object) },
    });
    return;
  }
  const applied = await kube.apply(object.type, namespace, object.name, desired);
  if (!existing) await adopt(kube, object.type, applied, owner);
}

/** The same spec but for the `kept` fields, and every label and annotation of `desired`. */
function readsAs(existing: KubeObject, desired: KubeObject, kept: readonly string[]): boolean {
  // As sent: apply drops undefined values.
  const want = JSON.parse(JSON.stringify(desired)) as KubeObject;
  const spec = Object.fromEntries(
    Object.entries((existing.spec ?? {}) as Record<string, unknown>).filter(([key]) => !kept.includes(key)),
  );
  const contains = (have?: Record<string, string>, wanted?: Record<string, string>) =>
    Object.entries(wanted ?? {}).every(([key, value]) => have?.[key] === value);
  return (
    isDeepStrictEqual(spec, want.spec) &&
    contains(existing.metadata?.labels, want.metadata?.labels) &&
    contains(existing.metadata?.annotations, want.metadata?.annotations)
  );
}

function pick(object: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object ?? {}).filter(([key]) => keys.includes(key)));
}

class AppMeshRouter implements Router {
  readonly #dialect: Dialect;
  /** setRoutes, getRoutes and finalize are those of any router whose split lives in one object. */
  readonly #objects: ObjectRouter;

  constructor(dialect: Dialect) {
    this.#dialect = dialect;
    this.#objects = new ObjectRouter(
      (ctx) => {
        const [weighted, ...others] = meshObjects(dialect, ctx);
        return { weighted, others };
      },
      (ctx, object) => parse(dialect, ctx, object),
    );
  }

  async reconcile(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    const dialect = this.#dialect;
    const canary = await readCanary(ctx.kube, { namespace: ctx.namespace, name: owner.name });
    const inputs: NodeInputs = {
      accessLog: canary.metadata.annotations?.[ACCESS_LOG_ANNOTATION] === "enabled",
      pods: dialect.selectsPods
        ? targetLabel(await readTarget(ctx.kube, ctx.namespace, ctx.spec), ctx.settings)
        : undefined,
    };
    const [weighted, ...others] = meshObjects(dialect, ctx, inputs);
    // The weighted object last: its routes name nodes that then exist.
    for (const object of [...others, weighted]) {
      await reconcileMeshObject(ctx, owner, object, dialect.controllerFields, (current) =>
        object.build(object === weighted && current ? parse(dialect, ctx, current) : PRIMARY_ONLY),
      );
    }
  }

  setRoutes(ctx: RouterContext, routes: Routes): Promise<void> {
    return this.#objects.setRoutes(ctx, routes);
  }

  getRoutes(ctx: RouterContext): Promise<Routes> {
    return this.#objects.getRoutes(ctx);
  }

  finalize(ctx: RouterContext, owner: CanaryIdentity): Promise<void> {
    return this.#objects.finalize(ctx, owner);
  }
}

export const appMeshRouter: Router = new AppMeshRouter(V1BETA1);
export const appMeshV1beta2Router: Router = new AppMeshRouter(V1BETA2);
