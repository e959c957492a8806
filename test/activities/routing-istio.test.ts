/**
 * The Istio router against the real VirtualService and DestinationRule CRDs, as the operator's
 * service account: initialize creates only the VirtualService and the two DestinationRules, owned
 * by the Canary; weights, mirroring (with mirrorPercentage) and A/B matches round trip; spec.service
 * fields (hosts, gateways, retries, timeout, headers, corsPolicy, rewrite, trafficPolicy) shape
 * the objects; promotion and a second reconcile only read; blue/green switches and back; promotion
 * and rollback leave all on the primary; finalize deletes what it made and gives back a
 * VirtualService the user had.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeObject } from "../../src/kube/client.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";
import { createdDuring, ownedByCanary, owners, reconcileAgain, requestsOn } from "./routing-support.ts";

const namespace = testNamespace("routing-istio");

interface VirtualService extends KubeObject {
  metadata: NonNullable<KubeObject["metadata"]>;
  spec: {
    hosts?: string[];
    gateways?: string[];
    http: {
      match?: Record<string, unknown>[];
      route: {
        destination: { host: string; port?: { number: number } };
        weight?: number;
        headers?: unknown;
      }[];
      mirror?: { host: string };
      mirrorPercentage?: { value: number };
      [key: string]: unknown;
    }[];
  };
}

async function virtualService(name: string): Promise<VirtualService> {
  return admin.get<VirtualService>(RESOURCES.virtualServices, namespace, name);
}

/** [host, weight] of each destination of each HTTP route. */
async function weights(name: string): Promise<[string, number | undefined][][]> {
  return (await virtualService(name)).spec.http.map((h) =>
    h.route.map((r) => [r.destination.host, r.weight]),
  );
}

/** The objects Flagger routes the Canary `name` with: its VirtualService and DestinationRules. */
function routingObjects(name: string): [ResourceType, string][] {
  return [
    [RESOURCES.destinationRules, `${name}-canary`],
    [RESOURCES.destinationRules, `${name}-primary`],
    [RESOURCES.virtualServices, name],
  ];
}

async function resourceVersions(name: string): Promise<(string | undefined)[]> {
  return Promise.all(
    routingObjects(name).map(
      async ([type, object]) => (await admin.get(type, namespace, object)).metadata?.resourceVersion,
    ),
  );
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

describe("istio router", () => {
  it("creates the owned VirtualService and DestinationRules from spec.service; round-trips weights and mirroring; promotion and a second reconcile only read; finalize deletes them", async () => {
    await workload("web");
    const service = {
      port: 9898,
      hosts: ["web.example.test"],
      gateways: ["public-gateway.istio-system.svc.cluster.local"],
      timeout: "5s",
      retries: { attempts: 3, perTryTimeout: "1s", retryOn: "gateway-error,connect-failure" },
      headers: { request: { add: { "x-some-header": "value" } } },
      corsPolicy: { allowOrigins: [{ exact: "https://example.test" }], allowMethods: ["GET"], maxAge: "24h" },
      rewrite: { uri: "/" },
      match: [{ uri: { prefix: "/api" } }],
      trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } },
    };
    const target = await createCanary(
      namespace,
      "web",
      canarySpec("web", {
        provider: "istio",
        service,
        analysis: { interval: "1s", stepWeight: 10, maxWeight: 50, mirror: true, mirrorWeight: 30 },
      }),
    );
    const { kube, activities } = operatorActivities();
    const created = await createdDuring(
      namespace,
      [RESOURCES.virtualServices, RESOURCES.destinationRules],
      () => activities.initialize(target),
    );
    assert.deepEqual(
      created,
      routingObjects("web").map(([type, name]) => `${type.plural}/${name}`),
    );
    const owner = await ownedByCanary(namespace, "web");
    for (const [type, name] of routingObjects("web")) {
      assert.deepEqual(owners(await admin.get(type, namespace, name)), owner, `${type.plural}/${name}`);
    }

    let vs = await virtualService("web");
    assert.deepEqual(vs.spec.hosts, ["web.example.test", "web"]);
    assert.deepEqual(vs.spec.gateways, service.gateways);
    const [http] = vs.spec.http;
    assert.deepEqual(http?.match, service.match);
    assert.equal(http?.timeout, "5s");
    assert.deepEqual(http?.retries, service.retries);
    assert.deepEqual(http?.headers, service.headers);
    assert.deepEqual(http?.corsPolicy, service.corsPolicy);
    assert.deepEqual(http?.rewrite, { uri: "/" });
    assert.deepEqual(
      http?.route.map((r) => [r.destination, r.weight]),
      [
        [{ host: "web-primary" }, 100],
        [{ host: "web-canary" }, 0],
      ],
    );
    for (const host of ["web-primary", "web-canary"]) {
      const rule = await admin.get<{ spec: Record<string, unknown> }>(
        RESOURCES.destinationRules,
        namespace,
        host,
      );
      assert.deepEqual(rule.spec, { host, trafficPolicy: service.trafficPolicy });
    }

    await activities.setRoutes(target, routeTo(0, true));
    assert.deepEqual(await activities.getRoutes(target), routeTo(0, true));
    vs = await virtualService("web");
    assert.equal(vs.spec.http[0]?.mirror?.host, "web-canary");
    assert.deepEqual(vs.spec.http[0]?.mirrorPercentage, { value: 30 });

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(30)));
    assert.deepEqual(step.requests, { "patch virtualservices": 1 });
    assert.deepEqual(await activities.getRoutes(target), routeTo(30));
    assert.equal(
      (await virtualService("web")).spec.http[0]?.mirror,
      undefined,
      "mirroring ends with the mirror step",
    );

    // Promotion reconciles the routing before the primary rolls out: the split stays, unwritten.
    const versions = await resourceVersions("web");
    const promote = await kube.counter.measure(() => activities.promote(target));
    const reads = { "get destinationrules": 2, "get virtualservices": 1 };
    assert.deepEqual(requestsOn(promote.requests, "virtualservices", "destinationrules"), reads);
    assert.deepEqual(await reconcileAgain(kube, target), reads, "a second reconcile only reads");
    assert.deepEqual(await resourceVersions("web"), versions, "nothing written");
    assert.deepEqual(await activities.getRoutes(target), routeTo(30));

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await weights("web"), [
      [
        ["web-primary", 100],
        ["web-canary", 0],
      ],
    ]);

    await activities.finalize(target, true);
    for (const [type, name] of routingObjects("web")) {
      assert.equal(await admin.find(type, namespace, name), undefined, `${type.plural}/${name} is gone`);
    }
  });

  it("A/B testing puts a route for matching requests in front", async () => {
    await workload("shop");
    const target = await createCanary(
      namespace,
      "shop",
      canarySpec("shop", {
        provider: "istio",
        service: { port: 80, match: [{ uri: { prefix: "/" } }] },
        analysis: {
          interval: "1s",
          iterations: 2,
          match: [
            { headers: { "x-canary": { regex: ".*insider.*" } } },
            {
              headers: [
                { name: "cookie", value: "^(.*?;)?(canary=always)(;.*)?$", type: "RegularExpression" },
              ],
            },
          ],
        },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));
    const vs = await virtualService("shop");
    assert.deepEqual(vs.spec.http[0]?.match, [
      { uri: { prefix: "/" }, headers: { "x-canary": { regex: ".*insider.*" } } },
      { uri: { prefix: "/" }, headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
    ]);
    assert.deepEqual(
      vs.spec.http[0]?.route.map((r) => r.weight),
      [0, 100],
    );
    assert.deepEqual(vs.spec.http[1]?.match, [{ uri: { prefix: "/" } }]);
    assert.deepEqual(
      vs.spec.http[1]?.route.map((r) => r.weight),
      [100, 0],
    );

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    const primaryOnly = [
      ["shop-primary", 100],
      ["shop-canary", 0],
    ];
    assert.deepEqual(
      await weights("shop"),
      [primaryOnly, primaryOnly],
      "rolled back: no route to the canary",
    );
  });

  it("blue/green switches the whole route to the canary and back on rollback", async () => {
    await workload("blue");
    const target = await createCanary(
      namespace,
      "blue",
      canarySpec("blue", { provider: "istio", analysis: { interval: "1s", iterations: 2 } }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
    assert.deepEqual(step.requests, { "patch virtualservices": 1 });
    assert.equal((await virtualService("blue")).spec.http[0]?.match, undefined, "no A/B route");
    assert.deepEqual(await weights("blue"), [
      [
        ["blue-primary", 0],
        ["blue-canary", 100],
      ],
    ]);
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await weights("blue"), [
      [
        ["blue-primary", 100],
        ["blue-canary", 0],
      ],
    ]);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
  });

  it("session affinity: a cookie route in front, Set-Cookie on the canary destination", async () => {
    await workload("cart");
    const created = await createCanary(
      namespace,
      "cart",
      canarySpec("cart", {
        provider: "istio",
        analysis: {
          interval: "1s",
          stepWeight: 25,
          maxWeight: 50,
          sessionAffinity: { cookieName: "cart-canary", primaryCookieName: "cart-primary", maxAge: 120 },
        },
      }),
    );
    const target = { ...created, revision: "5f6d8c" };
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(50));
    assert.deepEqual(await activities.getRoutes(target), routeTo(50));
    const vs = await virtualService("cart");
    assert.deepEqual(
      vs.spec.http.map((h) => [h.match, h.route.map((r) => r.weight)]),
      [
        [[{ headers: { cookie: { regex: "(.*; *)?cart-canary=5f6d8c(;.*)?" } } }], [0, 100]],
        [[{ headers: { cookie: { regex: "(.*; *)?cart-primary=5f6d8c(;.*)?" } } }], [100, 0]],
        [undefined, [50, 50]],
      ],
    );
    assert.deepEqual(
      vs.spec.http[2]?.route.map((r) => r.headers),
      [
        { response: { add: { "Set-Cookie": "cart-primary=5f6d8c; Max-Age=120" } } },
        { response: { add: { "Set-Cookie": "cart-canary=5f6d8c; Max-Age=120" } } },
      ],
    );
    await activities.setRoutes(target, routeTo(0));
    assert.equal((await virtualService("cart")).spec.http.length, 1);
  });

  it("gives back a VirtualService the user had and removes the DestinationRules it made", async () => {
    await workload("legacy");
    const original = { hosts: ["legacy"], http: [{ route: [{ destination: { host: "legacy" } }] }] };
    await admin.create(RESOURCES.virtualServices, namespace, {
      metadata: { name: "legacy" },
      spec: original,
    });
    const target = await createCanary(
      namespace,
      "legacy",
      canarySpec("legacy", { provider: "istio", revertOnDeletion: true }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));
    assert.ok((await virtualService("legacy")).metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION]);

    await activities.finalize(target, true);
    const vs = await virtualService("legacy");
    assert.deepEqual(vs.spec, original);
    assert.equal(vs.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    assert.equal(await admin.find(RESOURCES.destinationRules, namespace, "legacy-primary"), undefined);
    assert.equal(await admin.find(RESOURCES.destinationRules, namespace, "legacy-canary"), undefined);
  });
});
