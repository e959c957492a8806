/**
 * The watch requests a client has open, for the tests and benchmarks of shared watches: how many
 * at most at once, and in which namespace each was made. No node:test hooks here, so a benchmark
 * script can use it too.
 */
import type { KubeClient } from "../../src/kube/client.ts";

export interface OpenWatches {
  readonly open: number;
  /** The most open at once since the start or the last reset. */
  readonly max: number;
  /** The namespace of each watch request (undefined: every namespace), in order. */
  readonly namespaces: readonly (string | undefined)[];
  reset(): void;
}

export function trackOpenWatches(kube: KubeClient): OpenWatches {
  const watch = kube.watch.bind(kube);
  let open = 0;
  let max = 0;
  const namespaces: (string | undefined)[] = [];
  kube.watch = ((...args: Parameters<KubeClient["watch"]>) => {
    open++;
    max = Math.max(max, open);
    namespaces.push(args[1]);
    return watch(...args).finally(() => {
      open--;
    });
  }) as KubeClient["watch"];
  return {
    get open() {
      return open;
    },
    get max() {
      return max;
    },
    namespaces,
    reset() {
      max = open;
      namespaces.length = 0;
    },
  };
}
