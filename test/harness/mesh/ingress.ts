/** TEST CODE ONLY: what the Ingress-based readers (nginx, skipper) share. */
import { ApiException, type V1Ingress } from "@kubernetes/client-node";
import type { ReaderClients, RoutedApp } from "./split.ts";

/** The canary copy of the app's Ingress, `<routingObject>-canary`, or undefined when there is none. */
export async function canaryIngress(
  app: RoutedApp,
  { networking }: ReaderClients,
): Promise<V1Ingress | undefined> {
  if (app.routingObject === undefined) {
    throw new Error(
      `app ${app.namespace}/${app.service} has no routingObject: the name of its Ingress is needed`,
    );
  }
  try {
    return await networking.readNamespacedIngress({
      namespace: app.namespace,
      name: `${app.routingObject}-canary`,
    });
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return undefined;
    throw error;
  }
}

/** Every path's backend Service name, in order. */
export function backendServices(ingress: V1Ingress): string[] {
  return (ingress.spec?.rules ?? []).flatMap((rule) =>
    (rule.http?.paths ?? []).flatMap((path) => path.backend.service?.name ?? []),
  );
}
