/**
 * What the end-to-end tests share: reading a Canary's status and waiting on it, as a user's
 * `kubectl get canary -w` would.
 */
import type { CanaryStatus } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin } from "../activities/kube-support.ts";
import { waitFor } from "../harness/process.ts";

export async function canaryStatus(namespace: string, name: string): Promise<CanaryStatus> {
  return (await admin.get<{ status?: CanaryStatus }>(RESOURCES.canaries, namespace, name)).status ?? {};
}

export function promoted(status: CanaryStatus) {
  return status.conditions?.find((c) => c.type === "Promoted");
}

/** Waits until the Canary's status satisfies `predicate`; the error shows the last status seen. */
export function statusWhere(
  namespace: string,
  name: string,
  what: string,
  predicate: (s: CanaryStatus) => boolean,
  timeoutMs = 90_000,
): Promise<CanaryStatus> {
  return waitFor(
    `Canary ${namespace}/${name}: ${what}`,
    async () => {
      const s = await canaryStatus(namespace, name);
      if (predicate(s)) return s;
      throw new Error(`phase ${s.phase}, weight ${s.canaryWeight} (${promoted(s)?.message ?? ""})`);
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Waits until the Canary object is gone. */
export function gone(namespace: string, name: string, timeoutMs = 30_000): Promise<true> {
  return waitFor(
    `Canary ${namespace}/${name} deleted`,
    async () => ((await admin.find(RESOURCES.canaries, namespace, name)) === undefined ? true : undefined),
    { timeoutMs, intervalMs: 100 },
  );
}
