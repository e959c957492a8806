/**
 * Shared by the router tests: which routing objects initialize created and whether the Canary
 * owns them, and a router's reconcile run again on its own and counted, since a reconcile with
 * nothing changed must only read.
 */
import { routerFor } from "../../activities/routing/registry.ts";
import type { KubeClient, KubeObject } from "../../src/kube/client.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { canaryOwner, routerContext } from "./ingress-support.ts";
import { admin } from "./kube-support.ts";

/** `plural/name` of every object of `types` in the namespace, sorted. */
async function present(namespace: string, types: readonly ResourceType[]): Promise<string[]> {
  const lists = await Promise.all(types.map((type) => admin.list<KubeObject>(type, namespace)));
  return lists.flatMap((list, i) => list.items.map((o) => `${types[i]?.plural}/${o.metadata?.name}`)).sort();
}

/** `plural/name` of the objects of `types` that `work` created in the namespace, sorted. */
export async function createdDuring(
  namespace: string,
  types: readonly ResourceType[],
  work: () => Promise<unknown>,
): Promise<string[]> {
  const before = new Set(await present(namespace, types));
  await work();
  return (await present(namespace, types)).filter((object) => !before.has(object));
}

/** [kind, name, uid, controller] of each owner reference of `object`. */
export function owners(object: KubeObject): [string, string, string, boolean | undefined][] {
  return (object.metadata?.ownerReferences ?? []).map((o) => [o.kind, o.name, o.uid, o.controller]);
}

/** What `owners` reads on an object the Canary `name` created: the Canary, as its controller. */
export async function ownedByCanary(
  namespace: string,
  name: string,
): Promise<[string, string, string, boolean][]> {
  const { uid } = await canaryOwner(namespace, name);
  return [["Canary", name, uid, true]];
}

/** The requests ("verb resource" → count) a second reconcile of the Canary's routing makes. */
export async function reconcileAgain(kube: KubeClient, target: Target): Promise<Record<string, number>> {
  const { namespace, name } = target.ref;
  const owner = await canaryOwner(namespace, name);
  const ctx = { ...routerContext(kube, namespace, target.spec), revision: target.revision };
  const { requests } = await kube.counter.measure(() =>
    routerFor(target.spec.provider).reconcile(ctx, owner),
  );
  return requests;
}

/** Of counted requests, those on the given resources (plurals). */
export function requestsOn(
  requests: Record<string, number>,
  ...resources: readonly string[]
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(requests).filter(([request]) => resources.includes(request.split(" ")[1] ?? "")),
  );
}
