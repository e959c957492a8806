import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadAllYaml } from "@kubernetes/client-node";
import {
  crdDirectory,
  customResourceDefinitions,
  renderCustomResourceDefinitions,
  toStructuralSchema,
} from "../../src/kube/crds.ts";
import { toYaml } from "../../src/kube/yaml.ts";

type JsonNode = Record<string, unknown>;

/** The openAPIV3Schema of the Canary CRD's spec. */
function canarySpecSchema(): JsonNode {
  const crd = customResourceDefinitions()["canaries.yaml"] as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: JsonNode } } } }[] };
  };
  return crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec ?? {};
}

describe("CRDs", () => {
  it("deploy/crds is what src/kube/crds.ts generates (run `node src/kube/crds.ts` after changing src/api)", () => {
    for (const [file, text] of Object.entries(renderCustomResourceDefinitions())) {
      assert.equal(readFileSync(join(crdDirectory, file), "utf8"), text, `deploy/crds/${file} is stale`);
    }
  });

  it("the Canary CRD has the status subresource and Flagger's printer columns", () => {
    const canary = customResourceDefinitions()["canaries.yaml"] as {
      spec: {
        versions: {
          subresources?: unknown;
          additionalPrinterColumns: { name: string; jsonPath: string }[];
        }[];
      };
    };
    const [version] = canary.spec.versions;
    assert.deepEqual(version?.subresources, { status: {} });
    const columns = Object.fromEntries(
      version?.additionalPrinterColumns.map((c) => [c.name, c.jsonPath]) ?? [],
    );
    assert.equal(columns.Status, ".status.phase");
    assert.equal(columns.Weight, ".status.canaryWeight");
    assert.equal(columns.FailedChecks, ".status.failedChecks");
    assert.equal(columns.LastTransitionTime, ".status.lastTransitionTime");
  });

  it("CEL transition rules keep targetRef, the Services' name and the provider of a live Canary", () => {
    const spec = canarySpecSchema();
    const rules = (spec["x-kubernetes-validations"] as { rule: string; fieldPath?: string }[]) ?? [];
    const transitions = rules.filter((r) => r.rule.includes("oldSelf")).map((r) => r.fieldPath);
    assert.deepEqual(transitions, [".targetRef", ".service", ".provider"]);
  });

  it("analysis and its deprecated twin canaryAnalysis carry the same rules", () => {
    const properties = canarySpecSchema().properties as Record<string, JsonNode>;
    const analysis = properties.analysis as JsonNode;
    assert.deepEqual(properties.canaryAnalysis, analysis);
    const stepWeights = (analysis.properties as Record<string, JsonNode>).stepWeights as JsonNode;
    // The API server prices a CEL rule by the longest list it may see: unbounded, it refuses the CRD.
    assert.equal(stepWeights.maxItems, 100);
    assert.ok(stepWeights["x-kubernetes-validations"]);
  });

  it("the YAML reads back as the objects it was written from", () => {
    for (const [file, object] of Object.entries(customResourceDefinitions())) {
      const [doc] = loadAllYaml(renderCustomResourceDefinitions()[file] ?? "") as {
        metadata?: { name?: string };
      }[];
      assert.equal(doc?.metadata?.name, (object as { metadata: { name: string } }).metadata.name);
    }
  });
});

describe("toStructuralSchema", () => {
  it("makes number-or-name unions int-or-string and other unions open", () => {
    assert.deepEqual(toStructuralSchema({ anyOf: [{ type: "integer" }, { type: "string" }] }), {
      "x-kubernetes-int-or-string": true,
    });
    assert.deepEqual(toStructuralSchema({ anyOf: [{ type: "object" }, { type: "array" }] }), {
      "x-kubernetes-preserve-unknown-fields": true,
    });
  });

  it("keeps unknown fields of open objects and types map values", () => {
    assert.deepEqual(
      toStructuralSchema({ type: "object", properties: { a: { type: "string" } }, additionalProperties: {} }),
      { type: "object", properties: { a: { type: "string" } }, "x-kubernetes-preserve-unknown-fields": true },
    );
    assert.deepEqual(toStructuralSchema({ type: "object", additionalProperties: { type: "string" } }), {
      type: "object",
      additionalProperties: { type: "string" },
    });
  });

  it("drops zod's safe-integer maximum but keeps real bounds", () => {
    assert.deepEqual(toStructuralSchema({ type: "integer", minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), {
      type: "integer",
      minimum: 1,
    });
    assert.deepEqual(toStructuralSchema({ type: "integer", maximum: 100 }), {
      type: "integer",
      maximum: 100,
    });
  });
});

describe("toYaml", () => {
  it("quotes what YAML would read as something else", () => {
    const text = toYaml({
      a: "true",
      b: "1",
      c: "plain/value.x",
      d: "",
      e: "has: colon",
      f: [],
      g: {},
      h: [1, { x: "y" }],
    });
    const [back] = loadAllYaml(text);
    assert.deepEqual(back, {
      a: "true",
      b: "1",
      c: "plain/value.x",
      d: "",
      e: "has: colon",
      f: [],
      g: {},
      h: [1, { x: "y" }],
    });
  });
});
