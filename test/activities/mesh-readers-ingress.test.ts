/**
 * The mesh simulator's Ingress readers against the real API server, on canary Ingresses written
 * the way the nginx and skipper routers write them: ingress-nginx's canary weight (out of its
 * total) and by-header/by-cookie rules; Skipper's backend weights, taken only while the copy's
 * predicate outweighs the user's route. No canary Ingress means everything on the primary.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  type V1Ingress,
} from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import { readNginxSplit } from "../harness/mesh/nginx.ts";
import { readSkipperSplit } from "../harness/mesh/skipper.ts";
import { ALL_TO_PRIMARY, type ReaderClients, type Split, type SplitReader } from "../harness/mesh/split.ts";
import { worldEnv } from "../harness/world-env.ts";
import { admin, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("mesh-ingress");

const kc = new KubeConfig();
kc.loadFromFile(worldEnv().kubeconfig);
const clients: ReaderClients = {
  custom: kc.makeApiClient(CustomObjectsApi),
  core: kc.makeApiClient(CoreV1Api),
  networking: kc.makeApiClient(NetworkingV1Api),
};

function read(reader: SplitReader, app: string): Promise<Split> {
  return reader({ namespace, service: app, target: app, port: 80, routingObject: app }, clients);
}

function path(service: string, at = "/") {
  return { path: at, pathType: "Prefix", backend: { service: { name: service, port: { number: 80 } } } };
}

/** `<app>-canary` with these paths and annotations, created or replaced. */
async function canaryIngress(
  app: string,
  paths: ReturnType<typeof path>[],
  annotations: Record<string, string>,
): Promise<void> {
  const name = `${app}-canary`;
  const body: V1Ingress = {
    metadata: { name, annotations },
    spec: { rules: [{ host: `${app}.example.test`, http: { paths } }] },
  };
  const existing = await admin.find<V1Ingress>(RESOURCES.ingresses, namespace, name);
  if (existing) {
    await admin.replace(RESOURCES.ingresses, namespace, name, {
      ...body,
      metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion },
    });
  } else {
    await admin.create(RESOURCES.ingresses, namespace, body);
  }
}

const NGINX = "nginx.ingress.kubernetes.io/";

describe("nginx reader", () => {
  it("splits by canary weight, and sends requests matching a header or cookie rule to the canary", async () => {
    assert.deepEqual(await read(readNginxSplit, "web"), ALL_TO_PRIMARY, "no canary Ingress");

    const paths = [path("web-canary"), path("assets", "/static")];
    await canaryIngress("web", paths, { [`${NGINX}canary`]: "true", [`${NGINX}canary-weight`]: "30" });
    assert.deepEqual(await read(readNginxSplit, "web"), {
      ...ALL_TO_PRIMARY,
      primaryWeight: 70,
      canaryWeight: 30,
    });

    await canaryIngress("web", paths, {
      [`${NGINX}canary`]: "true",
      [`${NGINX}canary-weight`]: "250",
      [`${NGINX}canary-weight-total`]: "1000",
    });
    assert.deepEqual(await read(readNginxSplit, "web"), {
      ...ALL_TO_PRIMARY,
      primaryWeight: 750,
      canaryWeight: 250,
    });

    await canaryIngress("web", paths, {
      [`${NGINX}canary`]: "true",
      [`${NGINX}canary-weight`]: "0",
      [`${NGINX}canary-by-header`]: "x-canary",
      [`${NGINX}canary-by-header-value`]: "insider",
    });
    assert.deepEqual(await read(readNginxSplit, "web"), { ...ALL_TO_PRIMARY, abToCanary: true });

    await canaryIngress("web", paths, { [`${NGINX}canary`]: "true", [`${NGINX}canary-by-cookie`]: "canary" });
    assert.deepEqual(await read(readNginxSplit, "web"), { ...ALL_TO_PRIMARY, abToCanary: true });

    // Without the canary mark it is no canary: ingress-nginx does not split for it.
    await canaryIngress("web", paths, { [`${NGINX}canary-weight`]: "50" });
    assert.deepEqual(await read(readNginxSplit, "web"), ALL_TO_PRIMARY);
  });
});

describe("skipper reader", () => {
  it("splits by backend weights while the copy's route outweighs the user's, and not when it is off", async () => {
    assert.deepEqual(await read(readSkipperSplit, "shop"), ALL_TO_PRIMARY, "no canary Ingress");

    const paths = [path("shop-primary"), path("assets", "/static"), path("shop-canary")];
    const weights = (primary: number, canary: number) =>
      JSON.stringify({ "shop-primary": primary, "shop-canary": canary });
    await canaryIngress("shop", paths, {
      "zalando.org/backend-weights": weights(80, 20),
      "zalando.org/skipper-predicate": 'Weight(100) && Method("GET")',
    });
    assert.deepEqual(await read(readSkipperSplit, "shop"), {
      ...ALL_TO_PRIMARY,
      primaryWeight: 80,
      canaryWeight: 20,
    });

    await canaryIngress("shop", paths, {
      "zalando.org/backend-weights": weights(0, 100),
      "zalando.org/skipper-predicate": "Weight(100)",
    });
    assert.deepEqual(await read(readSkipperSplit, "shop"), {
      ...ALL_TO_PRIMARY,
      primaryWeight: 0,
      canaryWeight: 100,
    });

    // Only one backend weighted: it takes everything.
    await canaryIngress("shop", paths, {
      "zalando.org/backend-weights": JSON.stringify({ "shop-canary": 10 }),
      "zalando.org/skipper-predicate": "Weight(100)",
    });
    assert.deepEqual(await read(readSkipperSplit, "shop"), {
      ...ALL_TO_PRIMARY,
      primaryWeight: 0,
      canaryWeight: 10,
    });

    // Off, or not outweighing the user's route: the user's Ingress (the apex, the primary) serves.
    for (const predicate of ["False()", 'Method("GET")']) {
      await canaryIngress("shop", paths, {
        "zalando.org/backend-weights": weights(50, 50),
        "zalando.org/skipper-predicate": predicate,
      });
      assert.deepEqual(await read(readSkipperSplit, "shop"), ALL_TO_PRIMARY, predicate);
    }
  });
});
