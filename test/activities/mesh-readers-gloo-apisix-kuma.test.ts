/**
 * The mesh simulator's Gloo, APISIX and Kuma readers against the CRDs, on objects as the routers
 * write them (their own builders) and on hand-written ones for the rules the routers do not
 * exercise: a Gloo destination is the Service its Upstream reaches; the highest-priority APISIX
 * rule serves the requests; Kuma's route for the apex tag splits by the destinations' tags.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import { buildCanaryRoute } from "../../activities/routing/apisix.ts";
import { buildRouteTable, buildUpstream, upstreamName } from "../../activities/routing/gloo.ts";
import { buildTrafficRoute } from "../../activities/routing/kuma.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { readApisixRouteSplit } from "../harness/mesh/apisix.ts";
import { readRouteTableSplit } from "../harness/mesh/gloo.ts";
import { readTrafficRouteSplit } from "../harness/mesh/kuma.ts";
import { ALL_TO_PRIMARY, type ReaderClients, type RoutedApp } from "../harness/mesh/split.ts";
import { worldEnv } from "../harness/world-env.ts";
import { admin, canarySpec, resolve, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("mesh-gak");

const kc = new KubeConfig();
kc.loadFromFile(worldEnv().kubeconfig);
const clients: ReaderClients = {
  custom: kc.makeApiClient(CustomObjectsApi),
  core: kc.makeApiClient(CoreV1Api),
  networking: kc.makeApiClient(NetworkingV1Api),
};

function app(service: string, routingObject?: string): RoutedApp {
  return { namespace, service, target: service, port: 80, ...(routingObject ? { routingObject } : {}) };
}

function split(canary: number, extra: { abToCanary?: boolean; mirrorPercent?: number } = {}) {
  return { ...ALL_TO_PRIMARY, primaryWeight: 100 - canary, canaryWeight: canary, ...extra };
}

async function create(type: ResourceType, object: KubeObject): Promise<void> {
  await admin.create(type, object.metadata?.namespace ?? "", object);
}

describe("Gloo RouteTable reader", () => {
  async function glooApp(service: string, overrides: Partial<CanarySpec>, routes: Routes) {
    const spec = resolve(canarySpec(service, { provider: "gloo", ...overrides }));
    await create(RESOURCES.glooUpstreams, buildUpstream(spec, namespace, "primary", {}));
    await create(RESOURCES.glooUpstreams, buildUpstream(spec, namespace, "canary", {}));
    await create(RESOURCES.glooRouteTables, buildRouteTable(spec, namespace, routes));
  }

  it("splits by weight, shadows to the canary, and sends A/B matches to the canary", async () => {
    await glooApp("web", {}, routeTo(30));
    assert.deepEqual(await readRouteTableSplit(app("web"), clients), split(30));

    await glooApp(
      "mirror",
      { analysis: { interval: "1s", stepWeight: 10, mirror: true, mirrorWeight: 40 } },
      routeTo(0, true),
    );
    assert.deepEqual(await readRouteTableSplit(app("mirror"), clients), split(0, { mirrorPercent: 40 }));

    const ab = {
      analysis: { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "on" } } }] },
    };
    await glooApp("ab", ab, routeTo(100));
    assert.deepEqual(await readRouteTableSplit(app("ab"), clients), split(0, { abToCanary: true }));

    assert.deepEqual(await readRouteTableSplit(app("absent"), clients), ALL_TO_PRIMARY);
  });

  it("a destination goes where its Upstream reaches, not where its name says; a single one takes all", async () => {
    const swap = resolve(canarySpec("swap", { provider: "gloo" }));
    // The canary's Upstream name, reaching the primary's Service.
    await create(RESOURCES.glooUpstreams, {
      ...buildUpstream(swap, namespace, "canary", {}),
      spec: { kube: { serviceName: "swap-primary", serviceNamespace: namespace, servicePort: 80 } },
    });
    await create(RESOURCES.glooRouteTables, buildRouteTable(swap, namespace, routeTo(100)));
    assert.deepEqual(
      await readRouteTableSplit(app("swap"), clients),
      split(0),
      "all to the primary's Service",
    );

    const one = resolve(canarySpec("one", { provider: "gloo" }));
    await create(RESOURCES.glooUpstreams, buildUpstream(one, namespace, "canary", {}));
    await admin.create(RESOURCES.glooRouteTables, namespace, {
      metadata: { name: "one" },
      spec: {
        routes: [{ routeAction: { single: { upstream: { name: upstreamName(one, namespace, "canary") } } } }],
      },
    });
    assert.deepEqual(await readRouteTableSplit(app("one"), clients), split(100));
  });
});

describe("APISIX route reader", () => {
  const userRoute = (service: string): KubeObject => ({
    apiVersion: "apisix.apache.org/v2",
    kind: "ApisixRoute",
    metadata: { name: `${service}-route`, namespace },
    spec: {
      http: [
        { name: "main", match: { paths: ["/*"] }, backends: [{ serviceName: service, servicePort: 80 }] },
      ],
    },
  });

  it("the canary route's copy outranks the user's rule and splits by weight", async () => {
    const user = userRoute("web");
    await create(RESOURCES.apisixRoutes, user);
    assert.deepEqual(
      await readApisixRouteSplit(app("web", "web-route"), clients),
      split(0),
      "the user's rule: the apex Service, which selects the primary",
    );
    const spec = resolve(
      canarySpec("web", {
        provider: "apisix",
        routeRef: { apiVersion: "apisix.apache.org/v2", kind: "ApisixRoute", name: "web-route" },
      }),
    );
    const [rule] = (user.spec as { http: Record<string, unknown>[] }).http;
    await create(
      RESOURCES.apisixRoutes,
      buildCanaryRoute(spec, namespace, { route: user, rule: rule ?? {} }, routeTo(25)),
    );
    assert.deepEqual(await readApisixRouteSplit(app("web", "web-route"), clients), split(25));
  });

  it("weights default to 100; a rule with expressions serves only what they match", async () => {
    await admin.create(RESOURCES.apisixRoutes, namespace, {
      metadata: { name: "shop" },
      spec: {
        http: [
          {
            name: "insiders",
            priority: 2,
            match: {
              paths: ["/*"],
              exprs: [{ subject: { scope: "Header", name: "x-canary" }, op: "Equal", value: "on" }],
            },
            backends: [{ serviceName: "shop-canary", servicePort: 80 }],
          },
          {
            name: "main",
            priority: 1,
            match: { paths: ["/*"] },
            backends: [
              { serviceName: "shop-primary", servicePort: 80 },
              { serviceName: "shop-canary", servicePort: 80 },
            ],
          },
        ],
      },
    });
    assert.deepEqual(
      await readApisixRouteSplit(app("shop"), clients),
      { ...ALL_TO_PRIMARY, primaryWeight: 100, canaryWeight: 100, abToCanary: true },
      "half and half, by relative weight; the insiders' rule to the canary",
    );
  });
});

describe("Kuma TrafficRoute reader", () => {
  // TrafficRoutes are cluster-scoped: names unique to this run, removed after.
  const names = ["web", "single", "elsewhere"].map((name) => `${name}-${process.pid}`);
  after(async () => {
    for (const name of names) await admin.delete(RESOURCES.kumaTrafficRoutes, "", name);
  });
  const [web = "", single = "", elsewhere = ""] = names;

  it("splits the apex tag's traffic by the destinations' tags", async () => {
    const spec = resolve(canarySpec(web, { provider: "kuma" }));
    await create(RESOURCES.kumaTrafficRoutes, buildTrafficRoute(spec, namespace, "default", routeTo(40)));
    assert.deepEqual(await readTrafficRouteSplit(app(web), clients), split(40));
    assert.deepEqual(await readTrafficRouteSplit(app("absent"), clients), ALL_TO_PRIMARY);
  });

  it("one destination takes everything; tags of another namespace or port are not the app's", async () => {
    const route = (name: string, destination: string, conf: Record<string, unknown>) =>
      admin.create(RESOURCES.kumaTrafficRoutes, "", {
        metadata: { name },
        mesh: "default",
        spec: {
          sources: [{ match: { "kuma.io/service": "*" } }],
          destinations: [{ match: { "kuma.io/service": destination } }],
          conf,
        },
      });
    await route(single, `${single}_${namespace}_svc_80`, {
      destination: { "kuma.io/service": `${single}-canary_${namespace}_svc_80` },
    });
    assert.deepEqual(await readTrafficRouteSplit(app(single), clients), split(100));

    await route(elsewhere, `${elsewhere}_${namespace}_svc_80`, {
      split: [
        { weight: 50, destination: { "kuma.io/service": `${elsewhere}-canary_other_svc_80` } },
        { weight: 50, destination: { "kuma.io/service": `${elsewhere}-canary_${namespace}_svc_8080` } },
        { weight: 50, destination: { "kuma.io/service": `${elsewhere}-primary_${namespace}_svc_80` } },
      ],
    });
    assert.deepEqual(
      await readTrafficRouteSplit(app(elsewhere), clients),
      { ...ALL_TO_PRIMARY, primaryWeight: 50, canaryWeight: 0 },
      "only the primary's tag is the app's",
    );
  });
});
