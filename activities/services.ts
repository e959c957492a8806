/**
 * The ClusterIP Services of a Canary, from `spec.service`: `<name>-primary` selects the primary's
 * pods, `<name>-canary` the target's, and the apex `<name>` the primary's (the kubernetes provider
 * switches it to the canary for blue/green). Applied with server-side apply, so re-running is
 * harmless and fields other managers set on the Services are kept.
 */
import type { V1Container, V1Service, V1ServicePort } from "@kubernetes/client-node";
import { type ResolvedCanarySpec, serviceNames } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { type CanaryIdentity, ORIGINAL_CONFIGURATION_ANNOTATION } from "../src/kube/metadata.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import { retryOnConflict } from "../src/kube/retry.ts";
import { holdsAll } from "./applied-already.ts";
import { SERVICE_FIELDS, takeFlaggerFields } from "./flagger-fields.ts";
import { adopt, checkWritable, isManaged, originalOf, recordOriginal } from "./ownership.ts";
import { primaryName, type SelectorLabel, type Workload, withoutTooling } from "./workload-primary.ts";

export type ServiceRole = "apex" | "primary" | "canary";

/** Containers that are mesh sidecars, whose ports port discovery leaves out. */
const SIDECARS = new Set(["istio-proxy", "linkerd-proxy", "envoy", "envoy-sidecar", "kuma-sidecar"]);

/** The main port, then (with portDiscovery) the target's other container ports. */
export function servicePorts(spec: ResolvedCanarySpec, target: Workload | undefined): V1ServicePort[] {
  const service = spec.service;
  const main: V1ServicePort = {
    name: service.portName,
    protocol: "TCP",
    port: service.port,
    targetPort: service.targetPort as V1ServicePort["targetPort"],
    ...(service.appProtocol ? { appProtocol: service.appProtocol } : {}),
  };
  if (!service.portDiscovery) return [main];
  const ports = [main];
  const containers: V1Container[] = target?.spec?.template?.spec?.containers ?? [];
  for (const container of containers) {
    if (SIDECARS.has(container.name)) continue;
    (container.ports ?? []).forEach((p, i) => {
      const isMain =
        p.containerPort === service.port ||
        p.containerPort === service.targetPort ||
        p.name === service.targetPort;
      const protocol = p.protocol ?? "TCP";
      if (isMain || ports.some((q) => q.port === p.containerPort && q.protocol === protocol)) return;
      ports.push({
        name: p.name ?? `tcp-${container.name}-${i}`,
        protocol,
        port: p.containerPort,
        targetPort: p.containerPort as V1ServicePort["targetPort"],
      });
    });
  }
  return ports;
}

/** The apply configuration of one Service; `toCanary` points the apex at the canary's pods. */
export function buildService(
  spec: ResolvedCanarySpec,
  namespace: string,
  role: ServiceRole,
  label: SelectorLabel,
  ports: V1ServicePort[],
  toCanary = false,
): V1Service {
  const name = serviceNames(spec)[role];
  const custom = spec.service[role];
  const selectsCanary = role === "canary" || (role === "apex" && toCanary);
  return {
    metadata: {
      name,
      namespace,
      labels: { ...custom?.labels, [label.key]: name },
      annotations: withoutTooling(custom?.annotations),
    },
    spec: {
      type: "ClusterIP",
      selector: { [label.key]: selectsCanary ? label.value : primaryName(label.value) },
      ports,
      ...(spec.service.headless ? { clusterIP: "None" } : {}),
      ...(spec.service.trafficDistribution ? { trafficDistribution: spec.service.trafficDistribution } : {}),
    },
  };
}

/**
 * `service.unmanagedMetadata` names labels and annotations that someone else manages: as in
 * Flagger, a value already on the Service wins over the Canary's, so applying never changes it
 * (it is written back as it is, so the operator's apply does not drop a key it set first). The
 * selector label stays the operator's, or the Service would stop selecting its pods.
 */
function keepUnmanaged(
  desired: V1Service,
  existing: V1Service,
  unmanaged: ResolvedCanarySpec["service"]["unmanagedMetadata"],
  selectorKey: string,
): void {
  const metadata = desired.metadata ?? {};
  for (const field of ["labels", "annotations"] as const) {
    const live = existing.metadata?.[field] ?? {};
    for (const key of unmanaged?.[field] ?? []) {
      const value = live[key];
      if (value === undefined || (field === "labels" && key === selectorKey)) continue;
      metadata[field] = { ...metadata[field], [key]: value };
    }
  }
  desired.metadata = metadata;
}

interface OriginalService {
  readonly selector?: Record<string, string>;
  readonly ports?: V1ServicePort[];
}

/**
 * Applies the primary, canary and apex Services. An apex the user created before is taken over
 * (its selector and ports are recorded first, for finalize); the primary and canary Services must
 * be free or the Canary's (checkWritable); what the operator creates is owned by the Canary. An
 * apex the kubernetes provider switched to the canary stays switched here.
 */
export async function reconcileServices(
  kube: KubeClient,
  namespace: string,
  spec: ResolvedCanarySpec,
  label: SelectorLabel,
  target: Workload,
  owner: CanaryIdentity,
): Promise<void> {
  const ports = servicePorts(spec, target);
  for (const role of ["primary", "canary", "apex"] as const) {
    const desired = buildService(spec, namespace, role, label, ports);
    const name = desired.metadata?.name ?? "";
    const existing = await kube.find<V1Service>(RESOURCES.services, namespace, name);
    if (role !== "apex") {
      // Only the apex is taken over (Flagger's behaviour); the others are the operator's own.
      checkWritable(kube, existing, { kind: "Service", namespace, name }, owner, {
        fix: "delete it, or set spec.service.name to a name whose -primary and -canary Services are free",
      });
    } else if (existing) {
      // Promotion must not undo a blue/green switch the kubernetes provider made (initialization
      // undoes it itself, once the primary is ready, before scaling the target down).
      if (isManaged(existing, owner) && existing.spec?.selector?.[label.key] === label.value) {
        desired.spec = { ...desired.spec, selector: existing.spec.selector };
      }
      const original: OriginalService = { selector: existing.spec?.selector, ports: existing.spec?.ports };
      await recordOriginal(kube, RESOURCES.services, existing, owner, original);
    }
    if (existing) keepUnmanaged(desired, existing, spec.service.unmanagedMetadata, label.key);
    // Already as wanted (a Service Flagger made, a repeated promotion): nothing is written.
    let applied: V1Service;
    if (existing && holdsAll(existing, desired)) applied = existing;
    else {
      await takeFlaggerFields(kube, RESOURCES.services, existing, SERVICE_FIELDS);
      applied = await kube.apply<V1Service>(RESOURCES.services, namespace, name, desired);
    }
    // A taken-over apex stays the user's; adopt is a no-op on what the Canary already owns.
    if (role !== "apex" || !existing) await adopt(kube, RESOURCES.services, applied, owner);
  }
}

/**
 * On deletion with revertOnDeletion: the apex Service goes back to selecting the target's pods.
 * One the user had before gets its own selector and ports back; one the operator created is
 * pointed at the target and released from the Canary, so it outlives it (unless the target is
 * gone: `target` undefined).
 */
export async function revertApexService(
  kube: KubeClient,
  namespace: string,
  spec: ResolvedCanarySpec,
  target: { readonly label: SelectorLabel; readonly workload: Workload } | undefined,
  owner: CanaryIdentity,
): Promise<void> {
  const name = serviceNames(spec).apex;
  await retryOnConflict(async () => {
    const apex = await kube.find<V1Service>(RESOURCES.services, namespace, name);
    if (!apex) return;
    const original = originalOf<OriginalService>(apex);
    if (original) {
      const annotations = { ...apex.metadata?.annotations };
      delete annotations[ORIGINAL_CONFIGURATION_ANNOTATION];
      await kube.replace(RESOURCES.services, namespace, name, {
        ...apex,
        metadata: { ...apex.metadata, annotations },
        spec: { ...apex.spec, selector: original.selector, ports: original.ports ?? apex.spec?.ports },
      });
      return;
    }
    // With the target gone there is nothing to point it at: it goes with the Canary.
    if (!isManaged(apex, owner) || !target) return;
    const ports = servicePorts(spec, target.workload);
    const desired = buildService(spec, namespace, "apex", target.label, ports, true);
    const applied = await kube.apply<V1Service>(RESOURCES.services, namespace, name, desired);
    const references = applied.metadata?.ownerReferences ?? [];
    const index = references.findIndex((ref) => ref.uid === owner.uid);
    if (index >= 0) {
      await kube.jsonPatch(RESOURCES.services, namespace, name, [
        { op: "test", path: `/metadata/ownerReferences/${index}/uid`, value: owner.uid },
        { op: "remove", path: `/metadata/ownerReferences/${index}` },
      ]);
    }
  });
}
