/** Which of the operator's fields a Canary CRD's schema would prune: none for the generated one. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type CrdObject, prunedFields } from "../../src/kube/canary-crd.ts";
import { customResourceDefinitions } from "../../src/kube/crds.ts";

const own = customResourceDefinitions()["canaries.yaml"] as CrdObject;
const all = ["spec.analysis.gateTimeout", "status.lastAnalysis", "status.lastCommand"];

function crdWith(openAPIV3Schema: object, name = "v1beta1"): CrdObject {
  return { spec: { versions: [{ name, schema: { openAPIV3Schema } }] } } as CrdObject;
}

describe("prunedFields", () => {
  test("the generated CRD keeps every field the operator writes", () => {
    assert.deepEqual(prunedFields(own), []);
  });

  test("a schema that lacks them names each one", () => {
    const schema = {
      properties: {
        spec: { properties: { analysis: { properties: { interval: {} } } } },
        status: { properties: { phase: {} } },
      },
    };
    assert.deepEqual(prunedFields(crdWith(schema)), all);
  });

  test("an object that preserves unknown fields keeps what lies under it", () => {
    const schema = {
      properties: {
        spec: { properties: { analysis: { "x-kubernetes-preserve-unknown-fields": true } } },
        status: { properties: { lastAnalysis: {} } },
      },
    };
    assert.deepEqual(prunedFields(crdWith(schema)), ["status.lastCommand"]);
  });

  test("a CRD that does not serve v1beta1 keeps none of them", () => {
    assert.deepEqual(prunedFields(crdWith({ properties: {} }, "v1")), all);
    assert.deepEqual(prunedFields({}), all);
  });
});
