/**
 * The mesh simulator's App Mesh and Knative readers against objects in the real API server,
 * written by the routers' own setRoutes (and a few by hand): the split each would apply and A/B
 * routes to the canary.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import { appMeshRouter, appMeshV1beta2Router } from "../../activities/routing/appmesh.ts";
import { knativeRouter, PRIMARY_REVISION_ANNOTATION } from "../../activities/routing/knative.ts";
import type { RouterContext } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { applyDefaults } from "../../src/api/defaults.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { readAppMeshV1beta1Split, readAppMeshV1beta2Split } from "../harness/mesh/appmesh.ts";
import { readKnativeSplit } from "../harness/mesh/knative.ts";
import { ALL_TO_PRIMARY, type RoutedApp } from "../harness/mesh/split.ts";
import { worldEnv } from "../harness/world-env.ts";
import { admin, canarySpec, resolve, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("mesh-readers-am");
const kc = new KubeConfig();
kc.loadFromFile(worldEnv().kubeconfig);
const clients = {
  custom: kc.makeApiClient(CustomObjectsApi),
  core: kc.makeApiClient(CoreV1Api),
  networking: kc.makeApiClient(NetworkingV1Api),
};

function app(service: string): RoutedApp {
  return { namespace, service, target: service, port: 80 };
}

function context(spec: RouterContext["spec"]): RouterContext {
  return { kube: admin, namespace, spec, revision: undefined, settings: DEFAULT_WORKLOAD_SETTINGS };
}

function appMesh(name: string, provider: "appmesh" | "appmesh:v1beta2", overrides: Partial<CanarySpec> = {}) {
  return context(
    resolve(canarySpec(name, { provider, service: { port: 80, meshName: "global" }, ...overrides })),
  );
}

const abTesting = {
  analysis: { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "insider" } } }] },
};

describe("appmesh readers", () => {
  it("v1beta1: the VirtualService's unconditioned route, and A/B routes to the canary", async () => {
    assert.deepEqual(await readAppMeshV1beta1Split(app("absent"), clients), ALL_TO_PRIMARY);

    await appMeshRouter.setRoutes(appMesh("web", "appmesh"), routeTo(30));
    assert.deepEqual(await readAppMeshV1beta1Split(app("web"), clients), {
      primaryWeight: 70,
      canaryWeight: 30,
      abToCanary: false,
      mirrorPercent: 0,
    });

    const shop = appMesh("shop", "appmesh", abTesting);
    await appMeshRouter.setRoutes(shop, routeTo(100));
    assert.deepEqual(await readAppMeshV1beta1Split(app("shop"), clients), {
      primaryWeight: 100,
      canaryWeight: 0,
      abToCanary: true,
      mirrorPercent: 0,
    });
    await appMeshRouter.setRoutes(shop, routeTo(0));
    assert.equal((await readAppMeshV1beta1Split(app("shop"), clients)).abToCanary, false);
  });

  it("v1beta2: the VirtualRouter's routes in priority order", async () => {
    await appMeshV1beta2Router.setRoutes(appMesh("api", "appmesh:v1beta2"), routeTo(40));
    assert.deepEqual(await readAppMeshV1beta2Split(app("api"), clients), {
      primaryWeight: 60,
      canaryWeight: 40,
      abToCanary: false,
      mirrorPercent: 0,
    });
    await appMeshV1beta2Router.setRoutes(appMesh("cart", "appmesh:v1beta2", abTesting), routeTo(100));
    assert.equal((await readAppMeshV1beta2Split(app("cart"), clients)).abToCanary, true);

    // By hand: the route with the lower priority number is tried first, whatever the list's order.
    const target = (name: string, weight: number) => ({ virtualNodeRef: { name }, weight });
    await admin.create(RESOURCES.appMeshVirtualRouters, namespace, {
      metadata: { name: "ordered" },
      spec: {
        routes: [
          {
            name: "late",
            priority: 5,
            httpRoute: { action: { weightedTargets: [target("ordered-primary", 1)] } },
          },
          {
            name: "early",
            priority: 1,
            httpRoute: {
              action: { weightedTargets: [target("ordered-canary", 1), target("ordered-primary", 3)] },
            },
          },
        ],
      },
    });
    assert.deepEqual(await readAppMeshV1beta2Split(app("ordered"), clients), {
      primaryWeight: 3,
      canaryWeight: 1,
      abToCanary: false,
      mirrorPercent: 0,
    });
  });
});

describe("knative reader", () => {
  it("the latest revision's percent to the canary, the pinned revision's to the primary", async () => {
    await admin.create(RESOURCES.knativeServices, namespace, {
      metadata: { name: "hello", annotations: { [PRIMARY_REVISION_ANNOTATION]: "hello-00001" } },
      spec: { template: { spec: { containers: [{ image: "example.test/hello:1" }] } } },
    });
    assert.deepEqual(
      await readKnativeSplit(app("hello"), clients),
      ALL_TO_PRIMARY,
      "no traffic block: one revision",
    );

    // The Canary API takes no Knative target yet; the router reads only the target's name.
    const spec = applyDefaults(canarySpec("hello", { provider: "knative" }));
    await knativeRouter.setRoutes(context(spec), routeTo(25));
    assert.deepEqual(await readKnativeSplit(app("hello"), clients), {
      primaryWeight: 75,
      canaryWeight: 25,
      abToCanary: false,
      mirrorPercent: 0,
    });
  });
});
