/**
 * The mesh simulator's TrafficSplit reader against the real CRDs: backend weights in each
 * version's format (v1alpha1 resource quantities, later integers) are relative shares; from
 * v1alpha3, `matches` naming an HTTPRouteGroup confine the split to matching requests, so a canary
 * weight there means A/B to the canary and everyone else stays on the root Service.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import { readTrafficSplit } from "../harness/mesh/smi.ts";
import { ALL_TO_PRIMARY, type ReaderClients, type Split } from "../harness/mesh/split.ts";
import { worldEnv } from "../harness/world-env.ts";
import { admin, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("mesh-smi");

const kc = new KubeConfig();
kc.loadFromFile(worldEnv().kubeconfig);
const clients: ReaderClients = {
  custom: kc.makeApiClient(CustomObjectsApi),
  core: kc.makeApiClient(CoreV1Api),
  networking: kc.makeApiClient(NetworkingV1Api),
};

async function read(service: string): Promise<Split> {
  return readTrafficSplit({ namespace, service, target: service, port: 80 }, clients);
}

/** A TrafficSplit as the router writes it: canary first, then primary. */
async function trafficSplit(
  type: ResourceType,
  service: string,
  weights: { canary: number | string; primary: number | string },
  matches?: { kind: string; apiGroup: string; name: string }[],
): Promise<void> {
  await admin.create(type, namespace, {
    metadata: { name: service },
    spec: {
      service,
      ...(matches ? { matches } : {}),
      backends: [
        { service: `${service}-canary`, weight: weights.canary },
        { service: `${service}-primary`, weight: weights.primary },
      ],
    },
  });
}

function share(split: Split): number {
  return split.canaryWeight / (split.primaryWeight + split.canaryWeight);
}

describe("TrafficSplit reader", () => {
  it("reads v1alpha1 quantities and v1alpha2 integers as relative weights", async () => {
    await trafficSplit(RESOURCES.trafficSplitsV1alpha1, "plain", { canary: "20", primary: "80" });
    assert.deepEqual(await read("plain"), { ...ALL_TO_PRIMARY, primaryWeight: 80, canaryWeight: 20 });

    await trafficSplit(RESOURCES.trafficSplitsV1alpha1, "milli", { canary: "250m", primary: "750m" });
    assert.equal(share(await read("milli")), 0.25);

    await trafficSplit(RESOURCES.trafficSplitsV1alpha1, "scaled", { canary: "1k", primary: "3e3" });
    assert.equal(share(await read("scaled")), 0.25);

    await trafficSplit(RESOURCES.trafficSplitsV1alpha2, "ints", { canary: 40, primary: 60 });
    assert.deepEqual(await read("ints"), { ...ALL_TO_PRIMARY, primaryWeight: 60, canaryWeight: 40 });

    assert.deepEqual(await read("absent"), ALL_TO_PRIMARY, "no TrafficSplit: the apex selects the primary");
  });

  it("v1alpha3 matches: a canary weight sends only matching requests to the canary", async () => {
    const group = (name: string) => [{ kind: "HTTPRouteGroup", apiGroup: "specs.smi-spec.io", name }];
    await admin.create(RESOURCES.httpRouteGroups, namespace, {
      metadata: { name: "insiders" },
      spec: { matches: [{ name: "match-0", headers: { "x-canary": "^insider$" } }] },
    });
    await trafficSplit(RESOURCES.trafficSplitsV1alpha3, "ab", { canary: 100, primary: 0 }, group("insiders"));
    assert.deepEqual(await read("ab"), { ...ALL_TO_PRIMARY, abToCanary: true });

    await trafficSplit(
      RESOURCES.trafficSplitsV1alpha3,
      "ab-off",
      { canary: 0, primary: 100 },
      group("insiders"),
    );
    assert.deepEqual(await read("ab-off"), ALL_TO_PRIMARY);

    await trafficSplit(
      RESOURCES.trafficSplitsV1alpha3,
      "no-group",
      { canary: 100, primary: 0 },
      group("missing"),
    );
    assert.deepEqual(await read("no-group"), ALL_TO_PRIMARY, "a missing group matches no request");

    await admin.create(RESOURCES.httpRouteGroups, namespace, {
      metadata: { name: "everything" },
      spec: { matches: [{ name: "all", methods: ["*"] }] },
    });
    await trafficSplit(
      RESOURCES.trafficSplitsV1alpha3,
      "all",
      { canary: 30, primary: 70 },
      group("everything"),
    );
    assert.deepEqual(
      await read("all"),
      { ...ALL_TO_PRIMARY, primaryWeight: 70, canaryWeight: 30 },
      "a route without conditions matches every request",
    );
  });
});
