/**
 * TEST CODE ONLY: how the mesh simulator reads a routing object into a traffic split. One reader
 * per kind of routing object (readers.ts), each written from the provider's documented
 * semantics, never from the operator's own parsing, so a router that writes the wrong thing is
 * caught by traffic going to the wrong side.
 */
import {
  ApiException,
  type CoreV1Api,
  type CustomObjectsApi,
  type NetworkingV1Api,
} from "@kubernetes/client-node";

export type Side = "primary" | "canary";

/** How the routing object splits traffic, as last read. */
export interface Split {
  readonly primaryWeight: number;
  readonly canaryWeight: number;
  /** Requests that match the A/B conditions go to the canary. */
  readonly abToCanary: boolean;
  /** Percent of primary-bound requests copied to the canary. */
  readonly mirrorPercent: number;
  /** Why the last read failed, if it did (the previous split stays in force). */
  readonly error?: string;
}

export const ALL_TO_PRIMARY: Split = {
  primaryWeight: 100,
  canaryWeight: 0,
  abToCanary: false,
  mirrorPercent: 0,
};

/** What a reader knows of the app it reads for. */
export interface RoutedApp {
  readonly namespace: string;
  /** The apex service; `<service>-primary`/`-canary` are the backends. */
  readonly service: string;
  /** The target workload (the canary); the primary is `<target>-primary`. */
  readonly target: string;
  readonly port: number;
  /** The user's own routing object (ingressRef/routeRef name), for providers that have one. */
  readonly routingObject?: string;
}

export interface ReaderClients {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly networking: NetworkingV1Api;
}

/** Reads the app's routing object; a missing object means all traffic on the primary. */
export type SplitReader = (app: RoutedApp, clients: ReaderClients) => Promise<Split>;

/** Which side a backend name (a Service name or a host `<name>.<namespace>…`) is. */
export function classify(app: RoutedApp, host: unknown): Side | undefined {
  if (typeof host !== "string") return undefined;
  const name = host.split(".")[0];
  if (name === `${app.service}-canary`) return "canary";
  // The apex service selects the primary once the canary is initialized.
  if (name === `${app.service}-primary` || name === app.service) return "primary";
  return undefined;
}

export interface Weighted {
  readonly backend: Side | undefined;
  readonly weight: number;
}

export function toSplit(weighted: readonly Weighted[], abToCanary: boolean, mirrorPercent: number): Split {
  const sum = (side: Side) =>
    weighted.filter((w) => w.backend === side).reduce((total, w) => total + Math.max(0, w.weight), 0);
  return { primaryWeight: sum("primary"), canaryWeight: sum("canary"), abToCanary, mirrorPercent };
}

/** A namespaced custom object's spec, or undefined when it does not exist. */
export async function customSpec(
  clients: ReaderClients,
  app: RoutedApp,
  resource: { readonly group: string; readonly version: string; readonly plural: string },
  name: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    const object = (await clients.custom.getNamespacedCustomObject({
      ...resource,
      namespace: app.namespace,
      name,
    })) as { spec?: Record<string, unknown> };
    return object.spec ?? {};
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return undefined;
    throw error;
  }
}
