/**
 * App Mesh, what both API versions share: how a Canary spec reads for App Mesh (routes, retries,
 * A/B header matches, gateway annotations), checked once, and what each version must say in its
 * own words (`Dialect`, appmesh-dialects.ts).
 */
import type { HttpMatch } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import { serviceNames } from "../../src/api/defaults.ts";
import { parseDuration } from "../../src/api/duration.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY } from "../../workflows/decisions/routes.ts";
import { invalidSpec } from "../errors.ts";
import type { SelectorLabel } from "../workload-primary.ts";
import { withoutTooling } from "../workload-primary.ts";
import { toIstioMatch } from "./match.ts";

export type Provider = "appmesh" | "appmesh:v1beta2";

/** App Mesh's retry events: the HTTP ones, and the one TCP event. */
const HTTP_RETRY_EVENTS = ["server-error", "gateway-error", "client-error", "stream-error"];
const TCP_RETRY_EVENTS = ["connection-error"];

/** A/B routes come first; App Mesh tries routes from the lowest priority number up. */
const AB_PRIORITY = 10;
const FALLBACK_PRIORITY = 20;

export interface HeaderMatch {
  readonly name: string;
  readonly match: Record<string, string>;
}

/** A route as both versions mean it; each writes it in its own words. */
export interface RouteSpec {
  readonly name: string;
  readonly priority?: number;
  readonly headers?: readonly HeaderMatch[];
  readonly split: Routes;
}

interface Retry {
  readonly perTryMs: number;
  readonly attempts: number;
  readonly httpEvents: readonly string[];
  readonly tcpEvents: readonly string[];
}

/** What the spec asks of the mesh, read and checked once per call of the router. */
export interface Mesh {
  readonly provider: Provider;
  readonly spec: ResolvedCanarySpec;
  readonly namespace: string;
  readonly names: Names;
  readonly protocol: "http" | "grpc";
  readonly prefix: string;
  readonly retry: Retry | undefined;
  readonly abMatches: readonly (readonly HeaderMatch[])[];
}

/** What only reconcile reads, for the VirtualNodes: the Canary's access-log annotation, the pods' label. */
export interface NodeInputs {
  readonly accessLog: boolean;
  readonly pods: SelectorLabel | undefined;
}

export interface VirtualNode {
  readonly name: string;
  /** The Service host the node resolves to. */
  readonly host: string;
  /** Whose pods it stands for. */
  readonly side: "primary" | "canary";
}

/** A routing object and how to build it: `split` only matters to the one carrying the weights. */
export interface MeshObject {
  readonly type: ResourceType;
  readonly name: string;
  build(split: Routes): KubeObject;
}

export interface WeightedTarget {
  readonly node: string | undefined;
  readonly weight: number;
}

/** Where the two API versions differ. */
export interface Dialect {
  readonly provider: Provider;
  readonly virtualNodes: ResourceType;
  /** v1beta2 selects the pods of each VirtualNode by the target's selector label. */
  readonly selectsPods: boolean;
  /** Spec fields the App Mesh controller sets on the objects (their name in AWS, their mesh). */
  readonly controllerFields: readonly string[];
  /** The VirtualNodes, by name and the Service host each resolves to. */
  nodes(names: Names, namespace: string): VirtualNode[];
  nodeSpec(mesh: Mesh, node: VirtualNode, inputs: NodeInputs): Record<string, unknown>;
  route(mesh: Mesh, route: RouteSpec): Record<string, unknown>;
  /**
   * The objects of the virtual router for host `name`, the first carrying its routes (and so the
   * weights); `annotations` go on its VirtualService. `mesh` is read when an object is built.
   */
  router(
    namespace: string,
    name: string,
    mesh: () => Mesh,
    routes: (split: Routes) => RouteSpec[],
    annotations: Record<string, string>,
  ): [MeshObject, ...MeshObject[]];
  /** The weighted targets of the first route of the weighted object. */
  targets(object: KubeObject): WeightedTarget[];
}

export type Names = ReturnType<typeof serviceNames>;

// ---- what both versions read from the spec ----

export function mesh(provider: Provider, spec: ResolvedCanarySpec, namespace: string): Mesh {
  refuseUnsupported(spec, provider);
  return {
    provider,
    spec,
    namespace,
    names: serviceNames(spec),
    // As Flagger decides it: a port named for gRPC gets a gRPC listener.
    protocol: spec.service.portName.includes("grpc") ? "grpc" : "http",
    prefix: routePrefix(spec.service.match, provider),
    retry: retryPolicy(spec.service.retries, provider),
    abMatches:
      spec.strategy.kind === "ab-testing"
        ? spec.analysis.match.map((m, i) => headerMatches(m, `analysis.match[${i}]`, provider))
        : [],
  };
}

function refuseUnsupported(spec: ResolvedCanarySpec, provider: Provider): void {
  if (spec.analysis.mirror) {
    throw invalidSpec(
      `analysis.mirror is not supported by the ${provider} provider: App Mesh routes cannot mirror traffic; remove it`,
    );
  }
  if (spec.analysis.sessionAffinity) {
    throw invalidSpec(
      `analysis.sessionAffinity is not supported by the ${provider} provider: App Mesh routes cannot set cookies; remove it`,
    );
  }
}

/** App Mesh HTTP routes match one URI prefix: `service.match` may give it, and nothing else. */
function routePrefix(matches: readonly HttpMatch[] | undefined, provider: Provider): string {
  const [first, ...rest] = matches ?? [];
  if (first === undefined) return "/";
  // `name` only labels a condition.
  const { uri, name: _, ...others } = defined(toIstioMatch(first));
  const prefix = (uri as { prefix?: string } | undefined)?.prefix;
  const uriKeys = Object.keys(defined((uri ?? {}) as Record<string, unknown>));
  if (rest.length > 0 || Object.keys(others).length > 0 || prefix === undefined || uriKeys.length > 1) {
    throw invalidSpec(
      `service.match is not supported by the ${provider} provider beyond one URI prefix: App Mesh routes here match ` +
        'a path prefix; use service.match: [{uri: {prefix: "/path"}}], or remove it',
    );
  }
  return prefix;
}

/** One A/B condition as App Mesh header matches; any other kind of condition is refused. */
function headerMatches(match: HttpMatch, field: string, provider: Provider): HeaderMatch[] {
  const { headers, name: _, ...others } = defined(toIstioMatch(match));
  const [other] = Object.keys(others);
  if (other !== undefined) {
    throw invalidSpec(
      `${field}.${other} is not supported by the ${provider} provider: App Mesh routes here match request headers only; use headers`,
    );
  }
  const entries = Object.entries((headers ?? {}) as Record<string, Record<string, string | undefined>>);
  if (entries.length === 0)
    throw invalidSpec(`${field} needs at least one header for the ${provider} provider`);
  return entries.map(([name, value]) => {
    const [method] = Object.entries(defined(value)).filter(([key]) =>
      ["exact", "prefix", "suffix", "regex"].includes(key),
    );
    if (method === undefined)
      throw invalidSpec(`${field}.headers.${name} needs one of exact, prefix, suffix or regex`);
    return { name, match: Object.fromEntries([method]) as Record<string, string> };
  });
}

/** `service.retries` in Istio's words (attempts, perTryTimeout, retryOn), read as Flagger does. */
function retryPolicy(retries: Record<string, unknown> | undefined, provider: Provider): Retry | undefined {
  if (retries === undefined) return undefined;
  const { attempts, perTryTimeout, retryOn } = retries;
  if (attempts !== undefined && !(Number.isInteger(attempts) && (attempts as number) >= 0)) {
    throw invalidSpec(`service.retries.attempts must be a whole number, got ${JSON.stringify(attempts)}`);
  }
  let perTryMs = 250;
  if (perTryTimeout !== undefined) {
    try {
      perTryMs = parseDuration(String(perTryTimeout));
    } catch {
      throw invalidSpec(
        `service.retries.perTryTimeout must be a duration such as "250ms", got ${JSON.stringify(perTryTimeout)}`,
      );
    }
  }
  const events =
    typeof retryOn === "string" && retryOn.trim() !== ""
      ? retryOn.split(",").map((event) => event.trim())
      : ["gateway-error"];
  const unknown = events.filter((e) => !HTTP_RETRY_EVENTS.includes(e) && !TCP_RETRY_EVENTS.includes(e));
  if (unknown.length > 0) {
    throw invalidSpec(
      `service.retries.retryOn: ${unknown.join(", ")} ${unknown.length === 1 ? "is not a retry event" : "are not retry events"} ` +
        `of the ${provider} provider: use ${[...HTTP_RETRY_EVENTS, ...TCP_RETRY_EVENTS].join(", ")}`,
    );
  }
  return {
    perTryMs: Math.round(perTryMs),
    // Flagger's default: one retry.
    attempts: (attempts as number | undefined) || 1,
    httpEvents: events.filter((e) => HTTP_RETRY_EVENTS.includes(e)),
    tcpEvents: events.filter((e) => TCP_RETRY_EVENTS.includes(e)),
  };
}

/** The apex host's routes: the weighted one, or the A/B routes in front of one to the primary. */
export function apexRoutes(mesh: Mesh, split: Routes): RouteSpec[] {
  const { apex } = mesh.names;
  if (mesh.abMatches.length === 0) return [{ name: apex, split }];
  return [
    ...mesh.abMatches.map((headers, i) => ({
      name: i === 0 ? `${apex}-a` : `${apex}-a-${i}`,
      priority: AB_PRIORITY + i,
      headers,
      split,
    })),
    {
      name: `${apex}-b`,
      priority: Math.max(FALLBACK_PRIORITY, AB_PRIORITY + mesh.abMatches.length),
      split: PRIMARY_ONLY,
    },
  ];
}

/** Both nodes as targets: App Mesh weighs them against each other. */
export function weightedTargets(mesh: Mesh, split: Routes, target: (node: string, weight: number) => object) {
  return [target(mesh.names.canary, split.canaryWeight), target(mesh.names.primary, split.primaryWeight)];
}

/** Annotations an App Mesh gateway reads to expose the apex VirtualService on `service.hosts`. */
export function gatewayAnnotations(spec: ResolvedCanarySpec): Record<string, string> {
  const hosts = spec.service.hosts ?? [];
  if (hosts.length === 0) return {};
  const attempts = (spec.service.retries as { attempts?: number } | undefined)?.attempts ?? 0;
  const annotations: Record<string, string> = {
    "gateway.appmesh.k8s.aws/expose": "true",
    "gateway.appmesh.k8s.aws/domain": hosts.join(","),
  };
  if (spec.service.timeout !== undefined)
    annotations["gateway.appmesh.k8s.aws/timeout"] = spec.service.timeout;
  if (attempts > 0) annotations["gateway.appmesh.k8s.aws/retries"] = String(attempts);
  return annotations;
}

export function nodeMetadata(mesh: Mesh, name: string): Record<string, unknown> {
  return {
    name,
    namespace: mesh.namespace,
    labels: mesh.spec.service.apex?.labels ?? {},
    annotations: withoutTooling(mesh.spec.service.apex?.annotations),
  };
}

export const ACCESS_LOG = { accessLog: { file: { path: "/dev/stdout" } } };

function defined<T extends Record<string, unknown>>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;
}
