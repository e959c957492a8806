import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1DaemonSet, V1Deployment } from "@kubernetes/client-node";
import { buildPrimaryAutoscaler } from "../../activities/autoscaler.ts";
import {
  buildConfigCopy,
  buildPrimary,
  includedLabels,
  selectorLabel,
} from "../../activities/workload-primary.ts";
import { configChecksum } from "../../src/kube/configs.ts";
import { DEFAULT_SELECTOR_LABELS } from "../../src/kube/metadata.ts";
import { spec as resolvedSpec } from "./helpers/specs.ts";

const target: V1Deployment = {
  metadata: {
    name: "web",
    namespace: "ns",
    labels: { team: "a", "app.kubernetes.io/part-of": "shop", "kustomize.toolkit.fluxcd.io/name": "apps" },
    annotations: {
      "example.test/docs": "x",
      "kubectl.kubernetes.io/last-applied-configuration": "{}",
      "deployment.kubernetes.io/revision": "4",
    },
    resourceVersion: "123",
    uid: "u",
  },
  spec: {
    replicas: 3,
    minReadySeconds: 5,
    strategy: { type: "RollingUpdate" },
    selector: { matchLabels: { app: "web", tier: "fe" } },
    template: {
      metadata: {
        labels: { app: "web", tier: "fe", "kustomize.toolkit.fluxcd.io/name": "apps" },
        annotations: { "prometheus.io/scrape": "true" },
      },
      spec: {
        containers: [{ name: "app", image: "a:1", envFrom: [{ configMapRef: { name: "env" } }] }],
        nodeSelector: { "durable-canary.io/scale-to-zero": "true", zone: "a" },
      },
    },
  },
  status: { replicas: 3 },
};

const label = { key: "app", value: "web" };
const tracked = [
  {
    ref: { kind: "ConfigMap" as const, name: "env", optional: false, usedBy: [] },
    object: { data: {} },
    checksum: "c",
  },
];

describe("buildPrimary", () => {
  const primary = buildPrimary(target, {
    kind: "Deployment",
    label,
    includeLabelPrefixes: ["app.kubernetes.io/"],
    tracked,
    revision: "r1",
  }) as V1Deployment;

  it("renames and relabels: the selector label gets -primary, other selector labels stay", () => {
    assert.equal(primary.metadata?.name, "web-primary");
    assert.deepEqual(primary.spec?.selector.matchLabels, { app: "web-primary", tier: "fe" });
    assert.deepEqual(primary.spec?.template.metadata?.labels, { app: "web-primary", tier: "fe" });
  });

  it("copies workload labels by prefix and annotations except tooling ones", () => {
    assert.deepEqual(primary.metadata?.labels, { "app.kubernetes.io/part-of": "shop", app: "web-primary" });
    assert.deepEqual(primary.metadata?.annotations, { "example.test/docs": "x" });
    assert.deepEqual(primary.spec?.template.metadata?.annotations, {
      "prometheus.io/scrape": "true",
      "durable-canary.io/revision": "r1",
    });
  });

  it("leaves out replicas, status and server fields; keeps rollout settings", () => {
    assert.equal(primary.spec?.replicas, undefined);
    assert.equal((primary as { status?: unknown }).status, undefined);
    assert.equal(primary.metadata?.resourceVersion, undefined);
    assert.equal(primary.spec?.minReadySeconds, 5);
    assert.deepEqual(primary.spec?.strategy, { type: "RollingUpdate" });
  });

  it("points tracked configs at their copies and drops the scale-to-zero selector", () => {
    const spec = primary.spec?.template.spec;
    assert.equal(spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name, "env-primary");
    assert.deepEqual(spec?.nodeSelector, { zone: "a" });
  });

  it("builds DaemonSet primaries with their update strategy", () => {
    const ds: V1DaemonSet = {
      metadata: { name: "agent", namespace: "ns" },
      spec: {
        selector: { matchLabels: { name: "agent" } },
        updateStrategy: { type: "OnDelete" },
        template: { metadata: { labels: { name: "agent" } }, spec: { containers: [{ name: "a" }] } },
      },
    };
    const built = buildPrimary(ds, {
      kind: "DaemonSet",
      label: { key: "name", value: "agent" },
      includeLabelPrefixes: [],
      tracked: [],
      revision: "r",
    }) as V1DaemonSet;
    assert.deepEqual(built.spec?.updateStrategy, { type: "OnDelete" });
    assert.deepEqual(built.spec?.selector.matchLabels, { name: "agent-primary" });
  });
});

describe("labels", () => {
  it("picks the first selector label Flagger knows", () => {
    assert.deepEqual(selectorLabel(target, DEFAULT_SELECTOR_LABELS), { key: "app", value: "web" });
    assert.deepEqual(
      selectorLabel(
        { spec: { selector: { matchLabels: { "app.kubernetes.io/name": "x" } }, template: {} } },
        [...DEFAULT_SELECTOR_LABELS],
      ),
      { key: "app.kubernetes.io/name", value: "x" },
    );
    assert.equal(
      selectorLabel({ spec: { selector: { matchLabels: { c: "x" } }, template: {} } }, ["app"]),
      undefined,
    );
  });

  it("copies labels only by prefix; * copies all but tooling ones", () => {
    const labels = { a: "1", "b/c": "2", "kustomize.toolkit.fluxcd.io/name": "x" };
    assert.deepEqual(includedLabels(labels, []), {});
    assert.deepEqual(includedLabels(labels, [""]), {});
    assert.deepEqual(includedLabels(labels, ["b/"]), { "b/c": "2" });
    assert.deepEqual(includedLabels(labels, ["*"]), { a: "1", "b/c": "2" });
  });
});

describe("buildConfigCopy", () => {
  it("copies content under the -primary name, mutable, with the same checksum", () => {
    const source = {
      metadata: { name: "env", namespace: "ns", uid: "u", resourceVersion: "1" },
      data: { a: "b" },
      immutable: true,
    };
    const copy = buildConfigCopy(source, "ConfigMap", []);
    assert.equal(copy.metadata?.name, "env-primary");
    assert.equal((copy as { immutable?: boolean }).immutable, undefined);
    assert.equal(copy.metadata?.uid, undefined);
    assert.equal(configChecksum(copy), configChecksum(source));
    const secret = buildConfigCopy(
      { metadata: { name: "s" }, type: "kubernetes.io/tls", data: { x: "eQ==" } },
      "Secret",
      [],
    );
    assert.deepEqual(secret, {
      metadata: { name: "s-primary", namespace: undefined, labels: {}, annotations: {} },
      type: "kubernetes.io/tls",
      data: { x: "eQ==" },
    });
  });
});

describe("buildPrimaryAutoscaler", () => {
  it("targets the primary and takes primaryScalerReplicas over the target HPA's bounds", () => {
    const spec = resolvedSpec(
      { stepWeight: 10 },
      {
        autoscalerRef: {
          apiVersion: "autoscaling/v2",
          kind: "HorizontalPodAutoscaler",
          name: "web-hpa",
          primaryScalerReplicas: { maxReplicas: 9 },
        },
      },
    );
    const hpa = buildPrimaryAutoscaler(
      {
        metadata: { name: "web-hpa", namespace: "ns" },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
          minReplicas: 2,
          maxReplicas: 4,
        },
      },
      spec,
      [],
    );
    assert.equal(hpa.metadata?.name, "web-hpa-primary");
    assert.deepEqual(hpa.spec?.scaleTargetRef, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "podinfo-primary",
    });
    assert.equal(hpa.spec?.minReplicas, 2);
    assert.equal(hpa.spec?.maxReplicas, 9);
  });
});
