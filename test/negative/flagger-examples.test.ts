/**
 * Manifests written the way Flagger's documentation writes them (test/data/flagger-examples: a
 * Canary per tutorial kind and documented feature, a MetricTemplate per metric provider, an
 * AlertProvider per chat platform): validation accepts each, and the generated CRD accepts each at
 * `kubectl apply` on the test world's API server without dropping a field.
 *
 * The world's flagger.app CRDs are shared with every other test, so the generated CRDs are
 * installed under a group and names of their own and removed afterwards; applies are server-side
 * dry runs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { loadAll } from "js-yaml";
import { ALERT_PROVIDER_TYPES, API_VERSION, METRIC_PROVIDER_TYPES } from "../../src/api/canary.ts";
import {
  type Validation,
  validateAlertProvider,
  validateCanary,
  validateMetricTemplate,
} from "../../src/api/validate.ts";
import { customResourceDefinitions } from "../../src/kube/crds.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { worldEnv } from "../harness/world-env.ts";

const dir = new URL("../data/flagger-examples/", import.meta.url);
const files = readdirSync(dir)
  .filter((file) => file.endsWith(".yaml"))
  .sort();

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

interface Fixture {
  readonly file: string;
  /** "file: Kind/name", as test titles and messages show it. */
  readonly title: string;
  readonly manifest: Manifest;
}

/** Every document of every fixture file: a file holds what a user would apply together. */
const fixtures: readonly Fixture[] = files.flatMap((file) =>
  (loadAll(readFileSync(new URL(file, dir), "utf8")) as Manifest[]).map((manifest) => ({
    file,
    title: `${file}: ${manifest.kind}/${manifest.metadata.name}`,
    manifest,
  })),
);

/** The value at a dotted path of a manifest, or undefined where the path stops. */
function field(manifest: Manifest, path: string): unknown {
  let value: unknown = manifest;
  for (const key of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Warnings a Canary fixture must raise: what Flagger reinterprets (src/api/leniency.ts), by file. */
const expectedWarnings: Record<string, readonly string[]> = {
  "flagger-leniency.yaml": [
    "analysis.iterations selects blue/green, so analysis.stepWeight has no effect, as in Flagger",
    "analysis.metrics[0] (request-success-rate) has no thresholdRange, so every value passes",
  ],
  "kuma.yaml": ["analysis.metrics[0].threshold is deprecated", "analysis.metrics[1].threshold is deprecated"],
  "no-analysis.yaml": ["analysis is not set, so each new revision is promoted as soon as it is ready"],
};

/** Each kind a fixture may be: the operator's own validation of its spec, and its generated CRD file. */
const fixtureKinds: Record<string, { validate: (spec: unknown) => Validation<unknown>; crdFile: string }> = {
  Canary: { validate: validateCanary, crdFile: "canaries.yaml" },
  MetricTemplate: { validate: validateMetricTemplate, crdFile: "metrictemplates.yaml" },
  AlertProvider: { validate: validateAlertProvider, crdFile: "alertproviders.yaml" },
};

const suffix = randomBytes(4).toString("hex");
const group = `dc-examples-${suffix}.example.com`;
const namespace = `flagger-examples-${suffix}`;

interface Result {
  readonly code: number | null;
  readonly out: string;
}

function kubectl(args: string[], input?: unknown): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireBinary("kubectl"), ["--kubeconfig", worldEnv().kubeconfig, ...args]);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
    child.stdin.end(input === undefined ? "" : JSON.stringify(input));
  });
}

async function mustRun(args: string[], input?: unknown): Promise<void> {
  const result = await kubectl(args, input);
  assert.equal(result.code, 0, `kubectl ${args.join(" ")}: ${result.out}`);
}

interface CrdNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
}

/**
 * A generated CRD under this test's own group and names (`FlaggerExampleCanary`, ...): `kubectl get
 * canaries` run by other tests meanwhile must not find it.
 */
function exampleCrd(kind: string): { crd: Record<string, unknown>; names: CrdNames } {
  const crd = structuredClone(customResourceDefinitions()[fixtureKinds[kind]?.crdFile as string]) as {
    metadata: { name: string };
    spec: { group: string; names: CrdNames };
  };
  const own = crd.spec.names;
  const names = {
    kind: `FlaggerExample${own.kind}`,
    listKind: `FlaggerExample${own.listKind}`,
    plural: `flaggerexample${own.plural}`,
    singular: `flaggerexample${own.singular}`,
  };
  crd.metadata.name = `${names.plural}.${group}`;
  crd.spec.group = group;
  crd.spec.names = names;
  return { crd, names };
}

test("the fixtures cover every tutorial kind", () => {
  const kinds = [
    "istio",
    "linkerd",
    "appmesh",
    "nginx",
    "contour",
    "gloo",
    "skipper",
    "traefik",
    "osm",
    "kuma",
    "apisix",
    "gatewayapi",
    "knative",
    "blue-green",
    "ab-testing",
    "mirroring",
    "session-affinity",
    "webhooks",
    "alerts",
    "hpa",
    "keda",
  ];
  assert.deepEqual(
    kinds.filter((kind) => !files.includes(`${kind}.yaml`)),
    [],
  );
});

/** What Flagger's documentation shows beyond the tutorials, each needing a fixture that uses it. */
const features: readonly (readonly [string, (manifest: Manifest) => boolean])[] = [
  [
    "a Kubernetes Service target (service canary)",
    (m) => field(m, "spec.targetRef.kind") === "Service" && field(m, "spec.targetRef.apiVersion") === "v1",
  ],
  ["a DaemonSet target", (m) => field(m, "spec.targetRef.kind") === "DaemonSet"],
  [
    "an Istio TCP service (service.appProtocol tcp)",
    (m) =>
      field(m, "spec.provider") === "istio" &&
      String(field(m, "spec.service.appProtocol")).toLowerCase() === "tcp",
  ],
  ["service.unmanagedMetadata", (m) => field(m, "spec.service.unmanagedMetadata") !== undefined],
  [
    "a Canary without analysis",
    (m) =>
      m.kind === "Canary" &&
      field(m, "spec.analysis") === undefined &&
      field(m, "spec.canaryAnalysis") === undefined,
  ],
  [
    "a KEDA ScaledObject with primaryScalerQueries",
    (m) =>
      field(m, "spec.autoscalerRef.kind") === "ScaledObject" &&
      field(m, "spec.autoscalerRef.primaryScalerQueries") !== undefined,
  ],
  ["analysis.sessionAffinity", (m) => field(m, "spec.analysis.sessionAffinity") !== undefined],
  ...METRIC_PROVIDER_TYPES.map(
    (type) =>
      [
        `a ${type} MetricTemplate`,
        (m: Manifest) => m.kind === "MetricTemplate" && field(m, "spec.provider.type") === type,
      ] as const,
  ),
  ...ALERT_PROVIDER_TYPES.map(
    (type) =>
      [
        `a ${type} AlertProvider`,
        (m: Manifest) => m.kind === "AlertProvider" && field(m, "spec.type") === type,
      ] as const,
  ),
];

test("the fixtures use every feature Flagger documents, every metric provider and every alert platform", () => {
  assert.deepEqual(
    features
      .filter(([, uses]) => !fixtures.some(({ manifest }) => uses(manifest)))
      .map(([feature]) => feature),
    [],
  );
});

describe("Flagger-style manifests are accepted by validation", () => {
  for (const { file, title, manifest } of fixtures) {
    test(title, () => {
      assert.equal(manifest.apiVersion, API_VERSION, title);
      const kind = fixtureKinds[manifest.kind];
      assert.ok(kind, `${title}: no fixture kind ${manifest.kind}`);
      const result = kind.validate(manifest.spec);
      if (!result.ok) assert.fail(`${title}: ${result.errors.join("\n")}`);
      const { warnings } = result;
      const expected = expectedWarnings[file] ?? [];
      assert.equal(warnings.length, expected.length, `${title}: ${warnings.join("\n")}`);
      expected.forEach((start, i) => {
        assert.ok(warnings[i]?.startsWith(start), `${title}: expected ${start}, got ${warnings[i]}`);
      });
    });
  }
});

describe("Flagger-style manifests are accepted by the generated CRDs on a real API server", () => {
  const installed = Object.keys(fixtureKinds).map((kind) => ({ kind, ...exampleCrd(kind) }));

  before(async () => {
    for (const { crd } of installed) await mustRun(["create", "-f", "-"], crd);
    for (const { names } of installed) {
      await mustRun(["wait", "--for=condition=Established", `crd/${names.plural}.${group}`, "--timeout=60s"]);
    }
    await mustRun(["create", "namespace", namespace]);
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    for (const { names } of installed) {
      await kubectl(["delete", "crd", `${names.plural}.${group}`, "--wait=false"]);
    }
  });

  for (const { title, manifest } of fixtures) {
    test(title, async () => {
      const names = installed.find(({ kind }) => kind === manifest.kind)?.names;
      assert.ok(names, `${title}: no CRD for kind ${manifest.kind}`);
      const object = {
        ...manifest,
        apiVersion: `${group}/v1beta1`,
        kind: names.kind,
        metadata: { ...manifest.metadata, namespace },
      };
      const result = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], object);
      assert.equal(result.code, 0, `${title} refused: ${result.out}`);
      // Nothing Flagger reads may be pruned: the stored spec is the spec as written.
      const stored = JSON.parse(result.out) as Manifest;
      assert.deepEqual(stored.spec, manifest.spec, `${title}: the API server dropped or changed fields`);
    });
  }
});
