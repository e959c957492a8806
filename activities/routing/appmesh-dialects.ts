/**
 * The two App Mesh controller APIs, each as a `Dialect`: `appmesh.k8s.aws/v1beta1` (VirtualNodes
 * named into a mesh, routers inside VirtualServices) and v1beta2 (VirtualNodes selecting pods,
 * VirtualRouters, VirtualServices naming them).
 */
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { parseDuration } from "../../src/api/duration.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { invalidSpec } from "../errors.ts";
import { primaryName } from "../workload-primary.ts";
import { ACCESS_LOG, type Dialect, type Mesh, weightedTargets } from "./appmesh-model.ts";
import { compact } from "./router.ts";

function listener(mesh: Mesh, port: number) {
  return { portMapping: { port, protocol: mesh.protocol } };
}

export const V1BETA1: Dialect = {
  provider: "appmesh",
  virtualNodes: RESOURCES.appMeshVirtualNodesV1beta1,
  selectsPods: false,
  controllerFields: [],
  nodes(names, namespace) {
    const host = (service: string) => `${service}.${namespace}`;
    // The apex node resolves to the primary's host, as Flagger makes it.
    return [
      { name: names.apex, host: host(names.primary), side: "primary" },
      { name: names.primary, host: host(names.primary), side: "primary" },
      { name: names.canary, host: host(names.canary), side: "canary" },
    ];
  },
  nodeSpec(mesh, node, inputs) {
    return compact({
      meshName: meshName(mesh),
      listeners: [listener(mesh, mesh.spec.service.port)],
      serviceDiscovery: { dns: { hostName: node.host } },
      backends: (mesh.spec.service.backends ?? []).map((name) => ({
        virtualService: { virtualServiceName: name },
      })),
      logging: inputs.accessLog ? ACCESS_LOG : undefined,
    });
  },
  route(mesh, route) {
    const retry = mesh.retry;
    return compact({
      name: route.name,
      priority: route.priority,
      http: compact({
        match: compact({ prefix: mesh.prefix, headers: route.headers && [...route.headers] }),
        retryPolicy:
          retry &&
          compact({
            perRetryTimeoutMillis: retry.perTryMs,
            maxRetries: retry.attempts,
            httpRetryEvents: [...retry.httpEvents],
            tcpRetryEvents: [...retry.tcpEvents],
          }),
        action: {
          weightedTargets: weightedTargets(mesh, route.split, (node, weight) => ({
            virtualNodeName: node,
            weight,
          })),
        },
      }),
    });
  },
  router(namespace, name, mesh, routes, annotations) {
    // The VirtualService is named after the host clients resolve; the router inside it after the Service.
    const service = `${name}.${namespace}`;
    return [
      {
        type: RESOURCES.appMeshVirtualServicesV1beta1,
        name: service,
        build: (split) => ({
          apiVersion: "appmesh.k8s.aws/v1beta1",
          kind: "VirtualService",
          metadata: { name: service, namespace, annotations },
          spec: {
            meshName: meshName(mesh()),
            virtualRouter: { name, listeners: [listener(mesh(), mesh().spec.service.port)] },
            routes: routes(split).map((route) => V1BETA1.route(mesh(), route)),
          },
        }),
      },
    ];
  },
  targets(object) {
    const spec = object.spec as { routes?: { http?: { action?: { weightedTargets?: unknown } } }[] };
    const targets = (spec?.routes?.[0]?.http?.action?.weightedTargets ?? []) as {
      virtualNodeName?: string;
      weight?: number;
    }[];
    return targets.map((t) => ({ node: t.virtualNodeName, weight: t.weight ?? 0 }));
  },
};

/** v1beta1 nodes and routers belong to a mesh by name. */
function meshName(mesh: Mesh): string {
  const name = mesh.spec.service.meshName;
  if (!name) {
    throw invalidSpec(
      `service.meshName is required by the ${mesh.provider} provider: set it to the name of the App Mesh mesh`,
    );
  }
  return name;
}

/** v1beta2 listens on the container port: the numeric targetPort, else the Service port. */
function containerPort(spec: ResolvedCanarySpec): number {
  return typeof spec.service.targetPort === "number" ? spec.service.targetPort : spec.service.port;
}

/** `service.timeout` as a v1beta2 per-request timeout. */
function perRequest(spec: ResolvedCanarySpec): { perRequest: { unit: "ms"; value: number } } | undefined {
  const timeout = spec.service.timeout;
  return timeout === undefined ? undefined : { perRequest: { unit: "ms", value: parseDuration(timeout) } };
}

export const V1BETA2: Dialect = {
  provider: "appmesh:v1beta2",
  virtualNodes: RESOURCES.appMeshVirtualNodes,
  selectsPods: true,
  controllerFields: ["awsName", "meshRef"],
  nodes(names, namespace) {
    const host = (service: string) => `${service}.${namespace}.svc.cluster.local.`;
    return [
      { name: names.primary, host: host(names.primary), side: "primary" },
      { name: names.canary, host: host(names.canary), side: "canary" },
    ];
  },
  nodeSpec(mesh, node, inputs) {
    const label = inputs.pods;
    if (label === undefined) throw new Error("v1beta2 VirtualNodes need the target's selector label");
    const timeout = perRequest(mesh.spec);
    return compact({
      podSelector: {
        matchLabels: { [label.key]: node.side === "primary" ? primaryName(label.value) : label.value },
      },
      listeners: [
        compact({
          ...listener(mesh, containerPort(mesh.spec)),
          timeout: timeout && { [mesh.protocol]: timeout },
        }),
      ],
      serviceDiscovery: { dns: { hostname: node.host } },
      backends: (mesh.spec.service.backends ?? []).map((name) => ({
        // A backend outside the cluster is named by its ARN.
        virtualService: name.startsWith("arn:aws")
          ? { virtualServiceARN: name }
          : { virtualServiceRef: { name } },
      })),
      logging: inputs.accessLog ? ACCESS_LOG : undefined,
    });
  },
  route(mesh, route) {
    const retry = mesh.retry;
    return compact({
      name: route.name,
      priority: route.priority,
      httpRoute: compact({
        match: compact({ prefix: mesh.prefix, headers: route.headers && [...route.headers] }),
        retryPolicy:
          retry &&
          compact({
            perRetryTimeout: { unit: "ms", value: retry.perTryMs },
            maxRetries: retry.attempts,
            httpRetryEvents: [...retry.httpEvents],
            tcpRetryEvents: [...retry.tcpEvents],
          }),
        timeout: perRequest(mesh.spec),
        action: {
          weightedTargets: weightedTargets(mesh, route.split, (node, weight) => ({
            virtualNodeRef: { name: node },
            weight,
          })),
        },
      }),
    });
  },
  router(namespace, name, mesh, routes, annotations) {
    return [
      {
        type: RESOURCES.appMeshVirtualRouters,
        name,
        build: (split) => ({
          apiVersion: "appmesh.k8s.aws/v1beta2",
          kind: "VirtualRouter",
          metadata: { name, namespace },
          spec: {
            listeners: [listener(mesh(), containerPort(mesh().spec))],
            routes: routes(split).map((route) => V1BETA2.route(mesh(), route)),
          },
        }),
      },
      {
        type: RESOURCES.appMeshVirtualServices,
        name,
        build: () => ({
          apiVersion: "appmesh.k8s.aws/v1beta2",
          kind: "VirtualService",
          metadata: { name, namespace, annotations },
          spec: { provider: { virtualRouter: { virtualRouterRef: { name } } } },
        }),
      },
    ];
  },
  targets(object) {
    const spec = object.spec as { routes?: { httpRoute?: { action?: { weightedTargets?: unknown } } }[] };
    const targets = (spec?.routes?.[0]?.httpRoute?.action?.weightedTargets ?? []) as {
      virtualNodeRef?: { name?: string };
      weight?: number;
    }[];
    return targets.map((t) => ({ node: t.virtualNodeRef?.name, weight: t.weight ?? 0 }));
  },
};
