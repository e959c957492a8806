/**
 * Canaries written the way Flagger's documentation writes them (test/data/flagger-examples, one
 * per tutorial kind): the generated CRD accepts each at `kubectl apply` on the test world's API
 * server, and validation accepts each, or refuses it only as "not supported".
 *
 * The world's flagger.app CRDs are shared with every other test, so the generated Canary CRD is
 * installed under a group of its own and removed afterwards; applies are server-side dry runs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { load } from "js-yaml";
import { API_VERSION } from "../../src/api/canary.ts";
import { validateCanary } from "../../src/api/validate.ts";
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

function manifest(file: string): Manifest {
  return load(readFileSync(new URL(file, dir), "utf8")) as Manifest;
}

/** Warnings a fixture must raise: the combinations Flagger reinterprets (src/api/leniency.ts). */
const expectedWarnings: Record<string, readonly string[]> = {
  "flagger-leniency.yaml": [
    "analysis.iterations selects blue/green, so analysis.stepWeight has no effect, as in Flagger",
    "analysis.metrics[0] (request-success-rate) has no thresholdRange, so every value passes",
  ],
  "kuma.yaml": ["analysis.metrics[0].threshold is deprecated", "analysis.metrics[1].threshold is deprecated"],
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

/**
 * The generated Canary schema under this test's own group and names: `kubectl get canaries` run by
 * other tests meanwhile must not find it.
 */
const names = {
  kind: "FlaggerExample",
  listKind: "FlaggerExampleList",
  plural: "flaggerexamples",
  singular: "flaggerexample",
};

function canaryCrd(): Record<string, unknown> {
  const crd = structuredClone(customResourceDefinitions()["canaries.yaml"]) as {
    metadata: { name: string };
    spec: { group: string; names: Record<string, unknown> };
  };
  crd.metadata.name = `${names.plural}.${group}`;
  crd.spec.group = group;
  crd.spec.names = names;
  return crd;
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
  ];
  assert.deepEqual(
    kinds.filter((kind) => !files.includes(`${kind}.yaml`)),
    [],
  );
});

describe("Flagger-style Canaries are accepted by validation", () => {
  for (const file of files) {
    test(file, () => {
      const canary = manifest(file);
      assert.equal(canary.apiVersion, API_VERSION);
      assert.equal(canary.kind, "Canary");
      const result = validateCanary(canary.spec);
      if (!result.ok) {
        // The one refusal allowed: a value Flagger supports that this operator does not yet.
        for (const error of result.errors) assert.match(error, /not supported/, `${file}: ${error}`);
        return;
      }
      const expected = expectedWarnings[file] ?? [];
      assert.equal(result.warnings.length, expected.length, `${file}: ${result.warnings.join("\n")}`);
      expected.forEach((start, i) => {
        assert.ok(
          result.warnings[i]?.startsWith(start),
          `${file}: expected ${start}, got ${result.warnings[i]}`,
        );
      });
    });
  }
});

describe("Flagger-style Canaries are accepted by the generated CRD on a real API server", () => {
  before(async () => {
    await mustRun(["create", "-f", "-"], canaryCrd());
    await mustRun(["wait", "--for=condition=Established", `crd/${names.plural}.${group}`, "--timeout=60s"]);
    await mustRun(["create", "namespace", namespace]);
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await kubectl(["delete", "crd", `${names.plural}.${group}`, "--wait=false"]);
  });

  for (const file of files) {
    test(file, async () => {
      const canary = manifest(file);
      const object = {
        ...canary,
        apiVersion: `${group}/v1beta1`,
        kind: names.kind,
        metadata: { ...canary.metadata, namespace },
      };
      const result = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], object);
      assert.equal(result.code, 0, `${file} refused: ${result.out}`);
      // Nothing Flagger reads may be pruned: the stored spec is the spec as written.
      const stored = JSON.parse(result.out) as Manifest;
      assert.deepEqual(stored.spec, canary.spec, `${file}: the API server dropped or changed fields`);
    });
  }
});
