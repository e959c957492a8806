import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1PodSpec, V1PodTemplateSpec } from "@kubernetes/client-node";
import { rewriteConfigRefs } from "../../activities/workload-primary.ts";
import {
  canonicalJson,
  computeRevision,
  configChecksum,
  configRefs,
  isTrackingDisabled,
} from "../../src/kube/configs.ts";
import { SCALE_TO_ZERO_NODE_SELECTOR } from "../../src/kube/metadata.ts";

const spec: V1PodSpec = {
  volumes: [
    { name: "config", configMap: { name: "app-config" } },
    { name: "tls", secret: { secretName: "app-tls", optional: true } },
    {
      name: "bundle",
      projected: { sources: [{ configMap: { name: "bundle-cm" } }, { secret: { name: "bundle-secret" } }] },
    },
  ],
  initContainers: [{ name: "init", image: "i", envFrom: [{ secretRef: { name: "init-env" } }] }],
  containers: [
    {
      name: "app",
      image: "a",
      env: [
        { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "app-config", key: "level" } } },
        { name: "TOKEN", valueFrom: { secretKeyRef: { name: "api-token", key: "t", optional: true } } },
        { name: "PLAIN", value: "x" },
      ],
      envFrom: [{ configMapRef: { name: "app-env" } }],
    },
  ],
};

describe("configRefs", () => {
  it("finds volumes, projected sources, env valueFrom and envFrom of init and regular containers", () => {
    const refs = configRefs(spec);
    assert.deepEqual(
      refs.map((r) => `${r.kind}/${r.name}${r.optional ? "?" : ""}`),
      [
        "ConfigMap/app-config",
        "ConfigMap/app-env",
        "ConfigMap/bundle-cm",
        "Secret/api-token?",
        "Secret/app-tls?",
        "Secret/bundle-secret",
        "Secret/init-env",
      ],
    );
    assert.deepEqual(refs[0]?.usedBy, ["volume config", "container app env LEVEL"]);
  });

  it("a config referenced both optionally and not is required", () => {
    const refs = configRefs({
      containers: [
        {
          name: "a",
          env: [
            { name: "X", valueFrom: { configMapKeyRef: { name: "c", key: "x", optional: true } } },
            { name: "Y", valueFrom: { configMapKeyRef: { name: "c", key: "y" } } },
          ],
        },
      ],
    });
    assert.equal(refs[0]?.optional, false);
  });

  it("finds nothing in an empty spec", () => {
    assert.deepEqual(configRefs(undefined), []);
  });
});

describe("checksums and revisions", () => {
  const template: V1PodTemplateSpec = { metadata: { labels: { app: "web" } }, spec };

  it("checksums depend on content only", () => {
    const a = configChecksum({ metadata: { name: "a", labels: { x: "1" } }, data: { k: "v", j: "w" } });
    const b = configChecksum({ metadata: { name: "b" }, data: { j: "w", k: "v" } });
    const c = configChecksum({ metadata: { name: "a" }, data: { k: "changed", j: "w" } });
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.match(a, /^[0-9a-f]{16}$/);
  });

  it("the revision changes with the template and with tracked checksums, not with key order", () => {
    const base = computeRevision(template, { "ConfigMap/app-config": "1" });
    assert.equal(
      base,
      computeRevision(JSON.parse(JSON.stringify(template)), { "ConfigMap/app-config": "1" }),
    );
    assert.notEqual(base, computeRevision(template, { "ConfigMap/app-config": "2" }));
    const changed: V1PodTemplateSpec = {
      ...template,
      spec: { ...spec, containers: spec.containers.map((c) => ({ ...c, image: "a:2" })) },
    };
    assert.notEqual(base, computeRevision(changed, { "ConfigMap/app-config": "1" }));
  });

  it("scaling a DaemonSet to zero by node selector is not a new revision", () => {
    const scaled = structuredClone(template);
    (scaled.spec as V1PodSpec).nodeSelector = { [SCALE_TO_ZERO_NODE_SELECTOR]: "true" };
    assert.equal(computeRevision(scaled), computeRevision(template));
    const other = structuredClone(template);
    (other.spec as V1PodSpec).nodeSelector = { [SCALE_TO_ZERO_NODE_SELECTOR]: "true", zone: "a" };
    assert.notEqual(computeRevision(other), computeRevision(template));
  });

  it("canonical JSON sorts keys at every level and drops undefined", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } }),
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("tracking is disabled by Flagger's annotation", () => {
    assert.ok(
      isTrackingDisabled({ metadata: { annotations: { "flagger.app/config-tracking": "disabled" } } }),
    );
    assert.ok(
      !isTrackingDisabled({ metadata: { annotations: { "flagger.app/config-tracking": "enabled" } } }),
    );
  });
});

describe("rewriteConfigRefs", () => {
  it("points tracked references at their copies and leaves the others", () => {
    const copies = new Map([
      ["ConfigMap/app-config", "app-config-primary"],
      ["Secret/bundle-secret", "bundle-secret-primary"],
      ["Secret/init-env", "init-env-primary"],
    ]);
    const out = rewriteConfigRefs(spec, copies);
    assert.equal(out.volumes?.[0]?.configMap?.name, "app-config-primary");
    assert.equal(out.volumes?.[1]?.secret?.secretName, "app-tls");
    assert.equal(out.volumes?.[2]?.projected?.sources?.[0]?.configMap?.name, "bundle-cm");
    assert.equal(out.volumes?.[2]?.projected?.sources?.[1]?.secret?.name, "bundle-secret-primary");
    assert.equal(out.initContainers?.[0]?.envFrom?.[0]?.secretRef?.name, "init-env-primary");
    assert.equal(out.containers[0]?.env?.[0]?.valueFrom?.configMapKeyRef?.name, "app-config-primary");
    assert.equal(out.containers[0]?.env?.[1]?.valueFrom?.secretKeyRef?.name, "api-token");
    assert.equal(spec.volumes?.[0]?.configMap?.name, "app-config", "the input is not modified");
  });
});
