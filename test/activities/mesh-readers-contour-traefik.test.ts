/**
 * The mesh simulator's Contour and Traefik readers against objects in the real API server,
 * written as the routers write them (and a few by hand): the split each proxy would apply, A/B
 * routes to the canary, and mirroring with its percentage.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import { buildHttpProxy } from "../../activities/routing/contour.ts";
import { buildTraefikService } from "../../activities/routing/traefik.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { readHttpProxySplit } from "../harness/mesh/contour.ts";
import { ALL_TO_PRIMARY, type RoutedApp } from "../harness/mesh/split.ts";
import { readTraefikServiceSplit } from "../harness/mesh/traefik.ts";
import { worldEnv } from "../harness/world-env.ts";
import { admin, canarySpec, resolve, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("mesh-readers-ct");
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

async function write(type: ResourceType, object: KubeObject): Promise<void> {
  await admin.apply(type, namespace, object.metadata?.name ?? "", object);
}

function proxy(name: string, overrides: Partial<CanarySpec>, routes: Routes): KubeObject {
  return buildHttpProxy(resolve(canarySpec(name, { provider: "contour", ...overrides })), namespace, routes);
}

function traefikService(name: string, overrides: Partial<CanarySpec>, routes: Routes): KubeObject {
  return buildTraefikService(
    resolve(canarySpec(name, { provider: "traefik", ...overrides })),
    namespace,
    routes,
  );
}

const canary = { interval: "1s", stepWeight: 10 };

describe("contour reader", () => {
  it("reads the unconditioned route's weights, A/B routes to the canary and the mirror's percentage", async () => {
    assert.deepEqual(await readHttpProxySplit(app("absent"), clients), ALL_TO_PRIMARY);

    await write(RESOURCES.httpProxies, proxy("web", { analysis: canary }, routeTo(30)));
    assert.deepEqual(await readHttpProxySplit(app("web"), clients), {
      primaryWeight: 70,
      canaryWeight: 30,
      abToCanary: false,
      mirrorPercent: 0,
    });

    await write(
      RESOURCES.httpProxies,
      proxy("web", { analysis: { ...canary, mirror: true, mirrorWeight: 40 } }, routeTo(0, true)),
    );
    assert.deepEqual(await readHttpProxySplit(app("web"), clients), {
      primaryWeight: 100,
      canaryWeight: 0,
      abToCanary: false,
      mirrorPercent: 40,
    });
    await write(
      RESOURCES.httpProxies,
      proxy("web", { analysis: { ...canary, mirror: true } }, routeTo(0, true)),
    );
    assert.equal((await readHttpProxySplit(app("web"), clients)).mirrorPercent, 100, "no weight: all of it");

    const ab = {
      analysis: {
        interval: "1s",
        iterations: 2,
        match: [{ headers: { cookie: { suffix: "canary=always" } } }],
      },
    };
    await write(RESOURCES.httpProxies, proxy("shop", ab, routeTo(100)));
    assert.deepEqual(await readHttpProxySplit(app("shop"), clients), {
      primaryWeight: 100,
      canaryWeight: 0,
      abToCanary: true,
      mirrorPercent: 0,
    });
    await write(RESOURCES.httpProxies, proxy("shop", ab, routeTo(0)));
    assert.equal((await readHttpProxySplit(app("shop"), clients)).abToCanary, false);
  });

  it("splits evenly when no service has a weight, as Contour does", async () => {
    await write(RESOURCES.httpProxies, {
      apiVersion: "projectcontour.io/v1",
      kind: "HTTPProxy",
      metadata: { name: "even", namespace },
      spec: {
        routes: [
          {
            services: [
              { name: "even-primary", port: 80 },
              { name: "even-canary", port: 80 },
            ],
          },
        ],
      },
    });
    const split = await readHttpProxySplit(app("even"), clients);
    assert.equal(split.primaryWeight, split.canaryWeight);
    assert.ok(split.primaryWeight > 0);
  });
});

describe("traefik reader", () => {
  it("reads the weighted services the router writes", async () => {
    assert.deepEqual(await readTraefikServiceSplit(app("absent"), clients), ALL_TO_PRIMARY);

    await write(RESOURCES.traefikServices, traefikService("web", { analysis: canary }, routeTo(0)));
    assert.deepEqual(await readTraefikServiceSplit(app("web"), clients), ALL_TO_PRIMARY);

    await write(RESOURCES.traefikServices, traefikService("web", { analysis: canary }, routeTo(40)));
    assert.deepEqual(await readTraefikServiceSplit(app("web"), clients), {
      primaryWeight: 60,
      canaryWeight: 40,
      abToCanary: false,
      mirrorPercent: 0,
    });

    await write(
      RESOURCES.traefikServices,
      traefikService("blue", { analysis: { interval: "1s", iterations: 2 } }, routeTo(100)),
    );
    assert.deepEqual(await readTraefikServiceSplit(app("blue"), clients), {
      primaryWeight: 0,
      canaryWeight: 100,
      abToCanary: false,
      mirrorPercent: 0,
    });
  });

  it("gives a service without a weight weight 1, and reads a mirroring TraefikService, as Traefik does", async () => {
    await write(RESOURCES.traefikServices, {
      apiVersion: "traefik.io/v1alpha1",
      kind: "TraefikService",
      metadata: { name: "plain", namespace },
      spec: {
        weighted: {
          services: [
            { name: "plain-primary", port: 80 },
            { name: "plain-canary", port: 80, weight: 3 },
          ],
        },
      },
    });
    const split = await readTraefikServiceSplit(app("plain"), clients);
    assert.deepEqual([split.primaryWeight, split.canaryWeight], [1, 3]);

    const mirroring = (percent?: number) => ({
      apiVersion: "traefik.io/v1alpha1",
      kind: "TraefikService",
      metadata: { name: "copy", namespace },
      spec: {
        mirroring: { name: "copy-primary", port: 80, mirrors: [{ name: "copy-canary", port: 80, percent }] },
      },
    });
    await write(RESOURCES.traefikServices, mirroring(25));
    assert.deepEqual(await readTraefikServiceSplit(app("copy"), clients), {
      primaryWeight: 100,
      canaryWeight: 0,
      abToCanary: false,
      mirrorPercent: 25,
    });
    await write(RESOURCES.traefikServices, mirroring());
    assert.equal(
      (await readTraefikServiceSplit(app("copy"), clients)).mirrorPercent,
      0,
      "no percent: no copy",
    );
  });
});
