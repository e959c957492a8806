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
  /** Objects of this type live outside namespaces (Kuma's TrafficRoute): paths ignore the namespace. */
  readonly clusterScoped?: boolean;
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
  scaledObjects: resource("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
  httpRoutes: resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute"),
  httpRoutesV1beta1: resource("gateway.networking.k8s.io", "v1beta1", "httproutes", "HTTPRoute"),
  virtualServices: resource("networking.istio.io", "v1beta1", "virtualservices", "VirtualService"),
  destinationRules: resource("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule"),
  appMeshVirtualNodesV1beta1: resource("appmesh.k8s.aws", "v1beta1", "virtualnodes", "VirtualNode"),
  appMeshVirtualServicesV1beta1: resource("appmesh.k8s.aws", "v1beta1", "virtualservices", "VirtualService"),
  appMeshVirtualNodes: resource("appmesh.k8s.aws", "v1beta2", "virtualnodes", "VirtualNode"),
  appMeshVirtualServices: resource("appmesh.k8s.aws", "v1beta2", "virtualservices", "VirtualService"),
  appMeshVirtualRouters: resource("appmesh.k8s.aws", "v1beta2", "virtualrouters", "VirtualRouter"),
  knativeServices: resource("serving.knative.dev", "v1", "services", "Service"),
  knativeRevisions: resource("serving.knative.dev", "v1", "revisions", "Revision"),
  ingresses: resource("networking.k8s.io", "v1", "ingresses", "Ingress"),
  httpProxies: resource("projectcontour.io", "v1", "httpproxies", "HTTPProxy"),
  traefikServices: resource("traefik.io", "v1alpha1", "traefikservices", "TraefikService"),
  trafficSplitsV1alpha1: resource("split.smi-spec.io", "v1alpha1", "trafficsplits", "TrafficSplit"),
  trafficSplitsV1alpha2: resource("split.smi-spec.io", "v1alpha2", "trafficsplits", "TrafficSplit"),
  trafficSplitsV1alpha3: resource("split.smi-spec.io", "v1alpha3", "trafficsplits", "TrafficSplit"),
  httpRouteGroups: resource("specs.smi-spec.io", "v1alpha3", "httproutegroups", "HTTPRouteGroup"),
  glooUpstreams: resource("gloo.solo.io", "v1", "upstreams", "Upstream"),
  glooRouteTables: resource("gateway.solo.io", "v1", "routetables", "RouteTable"),
  apisixRoutes: resource("apisix.apache.org", "v2", "apisixroutes", "ApisixRoute"),
  kumaTrafficRoutes: {
    ...resource("kuma.io", "v1alpha1", "trafficroutes", "TrafficRoute"),
    clusterScoped: true,
  },
  customResourceDefinitions: {
    ...resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition"),
    clusterScoped: true,
  },
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
 * without a namespace spans all of them. Cluster-scoped types ignore the namespace.
 */
export function resourcePath(
  type: ResourceType,
  namespace: string | undefined,
  name?: string,
  subresource?: string,
): string {
  const root = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const parts = [root];
  if (!type.clusterScoped) {
    if (namespace === undefined) return `${root}/${type.plural}`;
    parts.push("namespaces", encodeURIComponent(namespace));
  }
  parts.push(type.plural);
  if (name !== undefined) parts.push(encodeURIComponent(name));
  if (subresource !== undefined) parts.push(subresource);
  return parts.join("/");
}
