/**
 * The start-up check that the served Canary CRD is durable-canary's, on the world's API server. A
 * Flagger-shaped schema (the generated one without the fields only this operator has) is
 * installed under a group of its own, since the world's flagger.app CRDs are shared; the test
 * first shows that such a schema really drops those fields, then that the check says so.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { CANARY_CRD, checkCanaryCrd } from "../../src/kube/canary-crd.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { customResourceDefinitions } from "../../src/kube/crds.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import { waitFor } from "../harness/process.ts";
import { admin, operatorClient, testNamespace } from "./kube-support.ts";

const group = `dc-crd-check-${randomBytes(4).toString("hex")}.example.com`;
const crdName = `canaries.${group}`;
const canaries: ResourceType = { ...RESOURCES.canaries, group };
const namespace = testNamespace("crd-check");

interface Schema {
  properties: Record<string, Schema>;
}

/** The generated Canary CRD in this test's group, with the operator's own fields removed. */
function flaggerShapedCrd(): KubeObject {
  const crd = structuredClone(customResourceDefinitions()["canaries.yaml"]) as KubeObject & {
    spec: {
      group: string;
      names: Record<string, unknown>;
      versions: { schema: { openAPIV3Schema: Schema } }[];
    };
  };
  crd.metadata = { name: crdName };
  crd.spec.group = group;
  delete crd.spec.names.categories;
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema.properties;
  assert.ok(root?.spec && root.status);
  delete root.spec.properties.analysis?.properties.gateTimeout;
  delete root.status.properties.lastAnalysis;
  delete root.status.properties.lastCommand;
  return crd;
}

describe("the Canary CRD check", () => {
  before(async () => {
    await admin.create(RESOURCES.customResourceDefinitions, "", flaggerShapedCrd());
    await waitFor(
      "the Flagger-shaped CRD established",
      async () => {
        const crd = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          RESOURCES.customResourceDefinitions,
          "",
          crdName,
        );
        return (
          crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") || undefined
        );
      },
      { timeoutMs: 60_000 },
    );
  });

  after(async () => {
    await admin.delete(RESOURCES.customResourceDefinitions, "", crdName).catch(() => undefined);
  });

  test("a schema without the operator's fields drops them, and the check names them", async () => {
    const created = await admin.create<{ spec: { analysis: Record<string, unknown> } }>(canaries, namespace, {
      apiVersion: `${group}/v1beta1`,
      kind: "Canary",
      metadata: { name: "web", namespace },
      spec: {
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
        service: { port: 80 },
        analysis: { interval: "1m", stepWeight: 10, gateTimeout: "30m" },
      },
    });
    assert.equal(
      created.spec.analysis.gateTimeout,
      undefined,
      "the API server kept a field its schema lacks",
    );

    const check = await checkCanaryCrd(admin, crdName);
    assert.equal(check.state, "foreign");
    assert.ok(check.state === "foreign");
    assert.match(check.message, /spec\.analysis\.gateTimeout, status\.lastAnalysis, status\.lastCommand/);
    assert.match(check.message, /kubectl apply --server-side --force-conflicts -f deploy\/crds\//);
  });

  test("the operator's service account finds the installed CRD its own, and may read no other", async () => {
    const kube = operatorClient();
    assert.deepEqual(await checkCanaryCrd(kube), { state: "own" });
    assert.deepEqual(kube.counter.snapshot(), { [`get ${RESOURCES.customResourceDefinitions.plural}`]: 1 });
    const other = await checkCanaryCrd(kube, crdName);
    assert.equal(other.state, "unknown");
    assert.ok(other.state === "unknown" && /no permission to read the CRD/.test(other.message));
  });

  test("a CRD that is not installed is not a verdict", async () => {
    const check = await checkCanaryCrd(admin, `canaries.absent-${group}`);
    assert.deepEqual(check, {
      state: "unknown",
      message: `the CRD canaries.absent-${group} is not installed yet`,
    });
    assert.equal(CANARY_CRD, "canaries.flagger.app");
  });
});
