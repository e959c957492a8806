/**
 * Config tracking: which ConfigMaps and Secrets a pod template uses, their checksums, and the
 * revision of a workload (pod template + tracked config checksums). Pure functions the controller
 * (with its informer caches) and the activities share, plus a reader that fetches the configs.
 */
import { createHash } from "node:crypto";
import type {
  V1ConfigMap,
  V1Container,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Secret,
} from "@kubernetes/client-node";
import type { KubeClient } from "./client.ts";
import { CONFIG_TRACKING_ANNOTATION, withoutScaleToZero } from "./metadata.ts";
import { RESOURCES } from "./resources.ts";

export type ConfigKind = "ConfigMap" | "Secret";

export interface ConfigRef {
  readonly kind: ConfigKind;
  readonly name: string;
  /** True only when every reference to it is optional: then it may be missing. */
  readonly optional: boolean;
  /** Where the pod template uses it, for messages: "volume config", "container app env LEVEL". */
  readonly usedBy: readonly string[];
}

/** "ConfigMap/app-config": the key of tracked configs in status and in revisions. */
export function configKey(ref: { readonly kind: ConfigKind; readonly name: string }): string {
  return `${ref.kind}/${ref.name}`;
}

/**
 * Every ConfigMap and Secret a pod spec references: volumes (including projected sources), and
 * env valueFrom and envFrom of init and regular containers. Sorted by kind and name.
 */
export function configRefs(spec: V1PodSpec | undefined): ConfigRef[] {
  const found = new Map<string, { kind: ConfigKind; name: string; optional: boolean; usedBy: string[] }>();
  const add = (kind: ConfigKind, name: string | undefined, optional: boolean | undefined, usedBy: string) => {
    if (!name) return;
    const key = configKey({ kind, name });
    const seen = found.get(key);
    if (seen) {
      seen.optional &&= optional === true;
      seen.usedBy.push(usedBy);
    } else {
      found.set(key, { kind, name, optional: optional === true, usedBy: [usedBy] });
    }
  };
  for (const volume of spec?.volumes ?? []) {
    const where = `volume ${volume.name}`;
    add("ConfigMap", volume.configMap?.name, volume.configMap?.optional, where);
    add("Secret", volume.secret?.secretName, volume.secret?.optional, where);
    for (const source of volume.projected?.sources ?? []) {
      add("ConfigMap", source.configMap?.name, source.configMap?.optional, where);
      add("Secret", source.secret?.name, source.secret?.optional, where);
    }
  }
  const containers: [string, V1Container][] = [
    ...(spec?.initContainers ?? []).map((c): [string, V1Container] => [`init container ${c.name}`, c]),
    ...(spec?.containers ?? []).map((c): [string, V1Container] => [`container ${c.name}`, c]),
  ];
  for (const [label, container] of containers) {
    for (const env of container.env ?? []) {
      const where = `${label} env ${env.name}`;
      const from = env.valueFrom;
      add("ConfigMap", from?.configMapKeyRef?.name, from?.configMapKeyRef?.optional, where);
      add("Secret", from?.secretKeyRef?.name, from?.secretKeyRef?.optional, where);
    }
    for (const source of container.envFrom ?? []) {
      const where = `${label} envFrom`;
      add("ConfigMap", source.configMapRef?.name, source.configMapRef?.optional, where);
      add("Secret", source.secretRef?.name, source.secretRef?.optional, where);
    }
  }
  return [...found.values()].sort((a, b) => configKey(a).localeCompare(configKey(b)));
}

export type ConfigObject = V1ConfigMap | V1Secret;

/** A config opted out of tracking is shared with the primary and does not affect the revision. */
export function isTrackingDisabled(config: ConfigObject): boolean {
  return config.metadata?.annotations?.[CONFIG_TRACKING_ANNOTATION] === "disabled";
}

/** Checksum of a config's content (data and binaryData; metadata does not count). */
export function configChecksum(config: ConfigObject): string {
  const binaryData = "binaryData" in config ? config.binaryData : undefined;
  return digest({ data: config.data ?? {}, binaryData: binaryData ?? {} });
}

/**
 * The revision of a workload: a hash of its pod template and of the checksums of the configs it
 * tracks. The node selector that stands in for "zero replicas" on DaemonSets is not part of it:
 * scaling is not a new version.
 */
export function computeRevision(
  template: V1PodTemplateSpec | undefined,
  trackedChecksums: Readonly<Record<string, string>> = {},
): string {
  const spec = template?.spec && withoutScaleToZero(template.spec);
  return digest({ template: { ...template, spec }, configs: trackedChecksums });
}

/** 16 hex digits of SHA-256 over canonical JSON (sorted keys), so equal content hashes equally. */
function digest(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 16);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(",")}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export interface TrackedConfig {
  readonly ref: ConfigRef;
  readonly object: ConfigObject;
  readonly checksum: string;
}

export interface PodConfigs {
  /** Configs copied to `-primary` objects on promotion, by configKey. */
  readonly tracked: readonly TrackedConfig[];
  /** Configs that exist but opted out of tracking: the primary uses them as they are. */
  readonly shared: readonly ConfigRef[];
  /** Optional references to configs that do not exist (Kubernetes tolerates them; so do we). */
  readonly missingOptional: readonly ConfigRef[];
  /** Required references to configs that do not exist: the pods cannot start. */
  readonly missing: readonly ConfigRef[];
}

/** Checksums of the tracked configs by configKey, as status.trackedConfigs and computeRevision want them. */
export function trackedChecksums(configs: PodConfigs): Record<string, string> {
  return Object.fromEntries(configs.tracked.map((c) => [configKey(c.ref), c.checksum]));
}

/** Reads every config a pod spec references (one GET each) and sorts them into tracked, shared and missing. */
export async function readPodConfigs(
  kube: KubeClient,
  namespace: string,
  spec: V1PodSpec | undefined,
): Promise<PodConfigs> {
  const refs = configRefs(spec);
  const objects = await Promise.all(
    refs.map((ref) =>
      kube.find<ConfigObject>(
        ref.kind === "ConfigMap" ? RESOURCES.configMaps : RESOURCES.secrets,
        namespace,
        ref.name,
      ),
    ),
  );
  const tracked: TrackedConfig[] = [];
  const shared: ConfigRef[] = [];
  const missingOptional: ConfigRef[] = [];
  const missing: ConfigRef[] = [];
  refs.forEach((ref, i) => {
    const object = objects[i];
    if (object === undefined) (ref.optional ? missingOptional : missing).push(ref);
    else if (isTrackingDisabled(object)) shared.push(ref);
    else tracked.push({ ref, object, checksum: configChecksum(object) });
  });
  return { tracked, shared, missingOptional, missing };
}

/** The revision of a workload's pod template as it is in the cluster now, with the configs it was computed from. */
export async function readRevision(
  kube: KubeClient,
  namespace: string,
  template: V1PodTemplateSpec | undefined,
): Promise<{ revision: string; configs: PodConfigs }> {
  const configs = await readPodConfigs(kube, namespace, template?.spec);
  return { revision: computeRevision(template, trackedChecksums(configs)), configs };
}
