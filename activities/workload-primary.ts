/**
 * The primary workload and the `-primary` config copies, built from the target as pure functions.
 * The primary is the target's copy with the selector label's value suffixed `-primary` (so the two
 * never select each other's pods), its tracked ConfigMap/Secret references pointed at the copies,
 * and metadata copied the way Flagger users expect: pod template labels and annotations always,
 * workload labels only with a configured prefix, workload annotations except GitOps tooling ones.
 */
import type {
  V1DaemonSet,
  V1Deployment,
  V1LabelSelector,
  V1ObjectMeta,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Secret,
} from "@kubernetes/client-node";
import type { TargetKind } from "../src/api/canary.ts";
import { type ConfigKind, type ConfigObject, configKey, type TrackedConfig } from "../src/kube/configs.ts";
import { isToolingMetadata, REVISION_ANNOTATION, withoutScaleToZero } from "../src/kube/metadata.ts";

export type Workload = V1Deployment | V1DaemonSet;

export const PRIMARY_SUFFIX = "-primary";

export function primaryName(name: string): string {
  return `${name}${PRIMARY_SUFFIX}`;
}

export interface SelectorLabel {
  readonly key: string;
  /** The target's value; the primary's is `${value}-primary`. */
  readonly value: string;
}

/** The first of `selectorLabels` the workload selects its pods by, as Flagger picks it. */
export function selectorLabel(
  workload: Workload,
  selectorLabels: readonly string[],
): SelectorLabel | undefined {
  const matchLabels = workload.spec?.selector?.matchLabels ?? {};
  for (const key of selectorLabels) {
    const value = matchLabels[key];
    if (value !== undefined) return { key, value };
  }
  return undefined;
}

/** Workload labels copied to generated objects: only those with an included prefix ("*" includes all). */
export function includedLabels(
  labels: Readonly<Record<string, string>> | undefined,
  prefixes: readonly string[],
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(labels ?? {}).filter(
      ([key]) =>
        !isToolingMetadata(key) && prefixes.some((p) => p === "*" || (p !== "" && key.startsWith(p))),
    ),
  );
}

export function withoutTooling(map: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).filter(([key]) => !isToolingMetadata(key)));
}

export interface PrimaryOptions {
  readonly kind: TargetKind;
  readonly label: SelectorLabel;
  readonly includeLabelPrefixes: readonly string[];
  /** Tracked configs by configKey: the primary references their `-primary` copies. */
  readonly tracked: readonly TrackedConfig[];
  /** The revision the primary will run, recorded on its pod template. */
  readonly revision: string;
}

/** The primary's apply configuration. Replicas are left out: they are set once, and by the autoscaler after. */
export function buildPrimary(target: Workload, options: PrimaryOptions): Workload {
  const name = primaryName(target.metadata?.name ?? "");
  const primaryValue = primaryName(options.label.value);
  const metadata: V1ObjectMeta = {
    name,
    namespace: target.metadata?.namespace,
    labels: {
      ...includedLabels(target.metadata?.labels, options.includeLabelPrefixes),
      [options.label.key]: primaryValue,
    },
    annotations: withoutTooling(target.metadata?.annotations),
  };
  const selector = primarySelector(target.spec?.selector, options.label.key, primaryValue);
  const template = primaryTemplate(target.spec?.template, options, primaryValue);
  if (options.kind === "DaemonSet") {
    const spec = (target as V1DaemonSet).spec;
    return {
      metadata,
      spec: {
        selector,
        template,
        updateStrategy: spec?.updateStrategy,
        minReadySeconds: spec?.minReadySeconds,
        revisionHistoryLimit: spec?.revisionHistoryLimit,
      },
    } satisfies V1DaemonSet;
  }
  const spec = (target as V1Deployment).spec;
  return {
    metadata,
    spec: {
      selector,
      template,
      strategy: spec?.strategy,
      minReadySeconds: spec?.minReadySeconds,
      revisionHistoryLimit: spec?.revisionHistoryLimit,
      progressDeadlineSeconds: spec?.progressDeadlineSeconds,
    },
  } satisfies V1Deployment;
}

function primarySelector(selector: V1LabelSelector | undefined, key: string, value: string): V1LabelSelector {
  return { ...selector, matchLabels: { ...selector?.matchLabels, [key]: value } };
}

function primaryTemplate(
  template: V1PodTemplateSpec | undefined,
  options: PrimaryOptions,
  primaryValue: string,
): V1PodTemplateSpec {
  const copies = new Map(options.tracked.map((c) => [configKey(c.ref), primaryName(c.ref.name)]));
  return {
    metadata: {
      labels: { ...withoutTooling(template?.metadata?.labels), [options.label.key]: primaryValue },
      annotations: {
        ...withoutTooling(template?.metadata?.annotations),
        [REVISION_ANNOTATION]: options.revision,
      },
    },
    spec: withoutScaleToZero(rewriteConfigRefs(template?.spec ?? { containers: [] }, copies)),
  };
}

/** The pod spec with references to tracked configs renamed; `copies` maps configKey → new name. */
export function rewriteConfigRefs(spec: V1PodSpec, copies: ReadonlyMap<string, string>): V1PodSpec {
  const renamed = (kind: ConfigKind, name: string | undefined) =>
    name === undefined ? undefined : (copies.get(configKey({ kind, name })) ?? name);
  const out = structuredClone(spec);
  for (const volume of out.volumes ?? []) {
    if (volume.configMap) volume.configMap.name = renamed("ConfigMap", volume.configMap.name);
    if (volume.secret) volume.secret.secretName = renamed("Secret", volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap) source.configMap.name = renamed("ConfigMap", source.configMap.name);
      if (source.secret) source.secret.name = renamed("Secret", source.secret.name);
    }
  }
  for (const container of [...(out.initContainers ?? []), ...out.containers]) {
    for (const env of container.env ?? []) {
      const from = env.valueFrom;
      if (from?.configMapKeyRef)
        from.configMapKeyRef.name = renamed("ConfigMap", from.configMapKeyRef.name) ?? "";
      if (from?.secretKeyRef) from.secretKeyRef.name = renamed("Secret", from.secretKeyRef.name) ?? "";
    }
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) source.configMapRef.name = renamed("ConfigMap", source.configMapRef.name);
      if (source.secretRef) source.secretRef.name = renamed("Secret", source.secretRef.name);
    }
  }
  return out;
}

/** The `-primary` copy of a tracked config: same content, mutable (so promotions can update it). */
export function buildConfigCopy(
  config: ConfigObject,
  kind: ConfigKind,
  includeLabelPrefixes: readonly string[],
): ConfigObject {
  const metadata: V1ObjectMeta = {
    name: primaryName(config.metadata?.name ?? ""),
    namespace: config.metadata?.namespace,
    labels: includedLabels(config.metadata?.labels, includeLabelPrefixes),
    annotations: withoutTooling(config.metadata?.annotations),
  };
  if (kind === "Secret") {
    const secret = config as V1Secret;
    return { metadata, type: secret.type, data: secret.data ?? {} };
  }
  const binaryData = "binaryData" in config ? config.binaryData : undefined;
  return { metadata, data: config.data ?? {}, binaryData: binaryData ?? {} };
}
