/**
 * Taking over a Canary that Flagger initialized. Flagger's primary carries no revision annotation
 * of ours, and Flagger's status hashes are not our revisions, so what the primary runs is told
 * from the objects themselves: a primary whose pod template (and config copies) is what the
 * target's would become runs the target's revision, and is adopted as promoted, untouched.
 * Anything else runs what Flagger last promoted; the target's revision is then new, unless
 * Flagger had rolled it back or left it half rolled out, which is recorded as failed instead of
 * being rolled out again on its own.
 */
import { isDeepStrictEqual } from "node:util";
import type { V1LabelSelector, V1PodSpec, V1PodTemplateSpec } from "@kubernetes/client-node";
import type { TargetKind } from "../src/api/canary.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { type ConfigObject, configChecksum, type PodConfigs } from "../src/kube/configs.ts";
import { REVISION_ANNOTATION } from "../src/kube/metadata.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import type { InitializeResult } from "../workflows/activity-port.ts";
import { buildPrimary, primaryName, type SelectorLabel, type Workload } from "./workload-primary.ts";

/** The unique ID Flagger stamps on its primary's pod template; it says nothing about the version. */
const FLAGGER_ID_ANNOTATION = "flagger-id";

/** What the primary runs, when it is not the target's copy and Flagger's status names no promoted spec. */
const UNKNOWN_PRIMARY_REVISION = "flagger-primary";

/** A primary this operator never wrote: it records no revision of ours on its pod template. */
export function isForeignPrimary(primary: Workload): boolean {
  return primary.spec?.template?.metadata?.annotations?.[REVISION_ANNOTATION] === undefined;
}

export interface TakeoverInput {
  readonly kind: TargetKind;
  readonly target: Workload;
  readonly primary: Workload;
  readonly label: SelectorLabel;
  readonly configs: PodConfigs;
  readonly includeLabelPrefixes: readonly string[];
  readonly selectorLabels: readonly string[];
  /** The target's revision as the controller computed it. */
  readonly revision: string | undefined;
  /** Whether Flagger had scaled the target down: no rollout was under way. */
  readonly targetScaledDown: boolean;
  /** The Canary's status: Flagger's hashes. */
  readonly status: { readonly lastAppliedSpec?: string; readonly lastPromotedSpec?: string } | undefined;
}

/**
 * What the workflow is told the primary runs, and whether the target's revision is a rollback.
 * Flagger records the target's hash in lastAppliedSpec when it starts a rollout, and copies it to
 * lastPromotedSpec when the rollout succeeds: different hashes mean a rollout Flagger started and
 * did not finish, rolled back or under way. The phase does not tell: the workflow has written its
 * own (Initializing) by now, and keeps both hashes until it knows a revision.
 */
export async function takeOver(kube: KubeClient, input: TakeoverInput): Promise<InitializeResult> {
  const { revision, status } = input;
  if (revision !== undefined && (await runsTarget(kube, input))) return { primaryRevision: revision };
  const primaryRevision = status?.lastPromotedSpec ?? UNKNOWN_PRIMARY_REVISION;
  const unfinished =
    status?.lastAppliedSpec !== undefined &&
    status.lastPromotedSpec !== undefined &&
    status.lastAppliedSpec !== status.lastPromotedSpec;
  if (revision === undefined || !unfinished) return { primaryRevision };
  const reason = input.targetScaledDown
    ? "Flagger had rolled this revision back before the takeover"
    : "taken over from Flagger mid-rollout: traffic is back on the primary and the canary is scaled down";
  return { primaryRevision, rolledBack: { revision, reason } };
}

/** Whether the primary is the copy the target makes: its pod template and its config copies. */
async function runsTarget(kube: KubeClient, input: TakeoverInput): Promise<boolean> {
  const expected = buildPrimary(input.target, {
    kind: input.kind,
    label: input.label,
    includeLabelPrefixes: input.includeLabelPrefixes,
    tracked: input.configs.tracked,
    revision: "",
  }).spec?.template;
  if (expected?.spec) {
    expected.spec = withPrimarySelectors(
      expected.spec,
      input.target.metadata?.name ?? "",
      input.selectorLabels,
    );
  }
  if (!sameTemplate(expected, input.primary.spec?.template)) return false;
  const namespace = input.target.metadata?.namespace ?? "";
  const copies = await Promise.all(
    input.configs.tracked.map(({ ref }) =>
      kube.find<ConfigObject>(
        ref.kind === "ConfigMap" ? RESOURCES.configMaps : RESOURCES.secrets,
        namespace,
        primaryName(ref.name),
      ),
    ),
  );
  return input.configs.tracked.every((config, i) => {
    const copy = copies[i];
    return copy !== undefined && configChecksum(copy) === config.checksum;
  });
}

/** Pod templates compared as the API server holds them, without the annotations that only mark the copy. */
function sameTemplate(
  expected: V1PodTemplateSpec | undefined,
  actual: V1PodTemplateSpec | undefined,
): boolean {
  const normal = (template: V1PodTemplateSpec | undefined) => {
    const plain = JSON.parse(JSON.stringify(template ?? {})) as V1PodTemplateSpec;
    const annotations = { ...plain.metadata?.annotations };
    delete annotations[REVISION_ANNOTATION];
    delete annotations[FLAGGER_ID_ANNOTATION];
    return {
      labels: plain.metadata?.labels ?? {},
      annotations,
      spec: plain.spec ?? {},
    };
  };
  return isDeepStrictEqual(normal(expected), normal(actual));
}

/**
 * Flagger points the primary's pod anti-affinity and topology spread selectors that name the
 * target (by one of the selector labels) at the primary's pods instead.
 */
function withPrimarySelectors(spec: V1PodSpec, target: string, keys: readonly string[]): V1PodSpec {
  const out = structuredClone(spec);
  const rename = (selector: V1LabelSelector | undefined) => {
    for (const expression of selector?.matchExpressions ?? []) {
      if (!keys.includes(expression.key)) continue;
      const i = (expression.values ?? []).indexOf(target);
      if (expression.values && i >= 0) expression.values[i] = primaryName(target);
    }
    for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
      if (keys.includes(key) && value === target && selector?.matchLabels)
        selector.matchLabels[key] = primaryName(target);
    }
  };
  for (const constraint of out.topologySpreadConstraints ?? []) rename(constraint.labelSelector);
  const anti = out.affinity?.podAntiAffinity;
  for (const term of anti?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
    rename(term.podAffinityTerm.labelSelector);
  for (const term of anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []) rename(term.labelSelector);
  return out;
}
