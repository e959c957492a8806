/**
 * The Canary finalizer, which holds a deleted Canary until its workflow has cleaned up. The
 * controller adds it; the finalize activity removes it. Both are read-modify-write with the
 * resourceVersion as precondition, so a concurrent change to the list is never lost.
 */
import type { KubeClient } from "./client.ts";
import { isNotFound } from "./errors.ts";
import { CANARY_FINALIZER } from "./metadata.ts";
import { RESOURCES } from "./resources.ts";
import { retryOnConflict } from "./retry.ts";

interface Finalizable {
  readonly metadata?: { readonly finalizers?: string[]; readonly resourceVersion?: string };
}

async function editFinalizers(
  kube: KubeClient,
  namespace: string,
  name: string,
  edit: (finalizers: readonly string[]) => string[] | undefined,
): Promise<boolean> {
  return retryOnConflict(async () => {
    let canary: Finalizable;
    try {
      canary = await kube.get<Finalizable>(RESOURCES.canaries, namespace, name);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    const finalizers = edit(canary.metadata?.finalizers ?? []);
    if (finalizers === undefined) return false;
    await kube.mergePatch(RESOURCES.canaries, namespace, name, {
      metadata: { resourceVersion: canary.metadata?.resourceVersion, finalizers },
    });
    return true;
  });
}

/** Adds the finalizer unless present; true when it changed the Canary. */
export function addCanaryFinalizer(kube: KubeClient, namespace: string, name: string): Promise<boolean> {
  return editFinalizers(kube, namespace, name, (list) =>
    list.includes(CANARY_FINALIZER) ? undefined : [...list, CANARY_FINALIZER],
  );
}

/** Removes the finalizer if present (a Canary already gone is fine); true when it changed the Canary. */
export function removeCanaryFinalizer(kube: KubeClient, namespace: string, name: string): Promise<boolean> {
  return editFinalizers(kube, namespace, name, (list) =>
    list.includes(CANARY_FINALIZER) ? list.filter((f) => f !== CANARY_FINALIZER) : undefined,
  );
}
