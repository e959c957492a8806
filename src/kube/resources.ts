/**
 * The API resources durable-canary touches, with their paths known up front: no discovery requests,
 * so the request count of an activity is exactly the calls it makes.
 */

export interface ResourceType {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
}

function resource(group: string, version: string, plural: string, kind: string): ResourceType {
  return { group, version, plural, kind };
}

export const RESOURCES = {
  canaries: resource("flagger.app", "v1beta1", "canaries", "Canary"),
  metricTemplates: resource("flagger.app", "v1beta1", "metrictemplates", "MetricTemplate"),
  alertProviders: resource("flagger.app", "v1beta1", "alertproviders", "AlertProvider"),
  deployments: resource("apps", "v1", "deployments", "Deployment"),
  daemonSets: resource("apps", "v1", "daemonsets", "DaemonSet"),
  pods: resource("", "v1", "pods", "Pod"),
  services: resource("", "v1", "services", "Service"),
  configMaps: resource("", "v1", "configmaps", "ConfigMap"),
  secrets: resource("", "v1", "secrets", "Secret"),
  leases: resource("coordination.k8s.io", "v1", "leases", "Lease"),
  events: resource("", "v1", "events", "Event"),
  horizontalPodAutoscalers: resource(
    "autoscaling",
    "v2",
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
  ),
  httpRoutes: resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute"),
  httpRoutesV1beta1: resource("gateway.networking.k8s.io", "v1beta1", "httproutes", "HTTPRoute"),
  virtualServices: resource("networking.istio.io", "v1beta1", "virtualservices", "VirtualService"),
  destinationRules: resource("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule"),
} as const satisfies Record<string, ResourceType>;

export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** "deployments.apps", "services": the name RBAC rules and kubectl use. */
export function qualifiedName(type: ResourceType): string {
  return type.group === "" ? type.plural : `${type.plural}.${type.group}`;
}

/**
 * Path of a collection or an object, optionally a subresource, in one namespace; a collection
 * without a namespace spans all of them.
 */
export function resourcePath(
  type: ResourceType,
  namespace: string | undefined,
  name?: string,
  subresource?: string,
): string {
  const root = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  if (namespace === undefined) return `${root}/${type.plural}`;
  const parts = [root, "namespaces", encodeURIComponent(namespace), type.plural];
  if (name !== undefined) parts.push(encodeURIComponent(name));
  if (subresource !== undefined) parts.push(subresource);
  return parts.join("/");
}
