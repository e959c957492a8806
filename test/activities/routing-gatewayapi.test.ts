/**
 * The Gateway API routers against the real HTTPRoute CRD, as the operator's service account:
 * weights, mirroring and A/B matches round trip through setRoutes/getRoutes; spec.service fields
 * shape the route; fields other managers set survive every step; a route the user had before is
 * given back on finalize. In both versions (v1 and v1beta1): initialize creates only the one owned
 * HTTPRoute, a step is one request, promotion and a second reconcile only read, blue/green
 * switches and back, and everything ends on the primary. Linkerd's Gateway API path attaches the
 * HTTPRoute to the apex Service.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Provider } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
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

const namespace = testNamespace("routing-gw");
let webTarget: Target | undefined;

interface HttpRoute extends KubeObject {
  metadata: NonNullable<KubeObject["metadata"]>;
  spec: {
    parentRefs?: { name: string; namespace?: string; group?: string; kind?: string; port?: number }[];
    hostnames?: string[];
    rules: {
      matches?: Record<string, unknown>[];
      filters?: { type: string; [key: string]: unknown }[];
      backendRefs: { name: string; port: number; weight: number; [key: string]: unknown }[];
      timeouts?: { request?: string; backendRequest?: string };
    }[];
  };
}

async function route(name: string, type: ResourceType = RESOURCES.httpRoutes): Promise<HttpRoute> {
  return admin.get<HttpRoute>(type, namespace, name);
}

/** [backend, port, weight] of each backendRef of each rule. */
function split(http: HttpRoute): [string, number, number][][] {
  return http.spec.rules.map((rule) => rule.backendRefs.map((b) => [b.name, b.port, b.weight]));
}

/** The one rule of a route without A/B matches, `primary`% to the primary. */
function onlyRule(name: string, primary: number, port = 80): [string, number, number][][] {
  return [
    [
      [`${name}-primary`, port, primary],
      [`${name}-canary`, port, 100 - primary],
    ],
  ];
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

describe("gatewayapi:v1 router", () => {
  it("round-trips weights and mirroring, shapes the route from spec.service, keeps others' fields", async () => {
    await workload("web");
    const target = await createCanary(
      namespace,
      "web",
      canarySpec("web", {
        service: {
          port: 80,
          targetPort: 8080,
          gatewayRefs: [{ name: "public", namespace: "gateways" }],
          hosts: ["web.example.test"],
          timeout: "5s",
          backendTimeout: "2s",
          match: [{ uri: { prefix: "/api" } }],
          headers: { request: { set: { "x-env": "prod" }, remove: ["x-debug"] } },
        },
        analysis: { interval: "1s", stepWeight: 20, maxWeight: 60, mirror: true, mirrorWeight: 50 },
      }),
    );
    webTarget = target;
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    let http = await route("web");
    assert.deepEqual(
      http.spec.parentRefs?.map((p) => [p.name, p.namespace]),
      [["public", "gateways"]],
    );
    assert.deepEqual(http.spec.hostnames, ["web.example.test"]);
    assert.equal(http.spec.rules.length, 1);
    assert.deepEqual(http.spec.rules[0]?.matches, [{ path: { type: "PathPrefix", value: "/api" } }]);
    assert.deepEqual(http.spec.rules[0]?.timeouts, { request: "5s", backendRequest: "2s" });
    assert.deepEqual(http.spec.rules[0]?.filters?.[0], {
      type: "RequestHeaderModifier",
      requestHeaderModifier: { set: [{ name: "x-env", value: "prod" }], remove: ["x-debug"] },
    });
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));

    // Someone else annotates and labels the route (external-dns, a policy controller...).
    await admin.mergePatch(RESOURCES.httpRoutes, namespace, "web", {
      metadata: { labels: { team: "edge" }, annotations: { "external-dns.alpha.kubernetes.io/ttl": "60" } },
    });

    await activities.setRoutes(target, routeTo(0, true));
    assert.deepEqual(await activities.getRoutes(target), routeTo(0, true));
    http = await route("web");
    assert.deepEqual(http.spec.rules[0]?.filters?.find((f) => f.type === "RequestMirror")?.requestMirror, {
      backendRef: { group: "", kind: "Service", name: "web-canary", port: 80 },
      percent: 50,
    });

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(40)));
    assert.deepEqual(step.requests, { "patch httproutes": 1 }, "one request per step");
    assert.deepEqual(await activities.getRoutes(target), {
      primaryWeight: 60,
      canaryWeight: 40,
      mirror: false,
    });
    http = await route("web");
    assert.deepEqual(
      http.spec.rules[0]?.backendRefs.map((b) => [b.name, b.port, b.weight]),
      [
        ["web-primary", 80, 60],
        ["web-canary", 80, 40],
      ],
    );
    assert.equal(http.metadata.labels?.team, "edge", "a label set by someone else survives");
    assert.equal(http.metadata.annotations?.["external-dns.alpha.kubernetes.io/ttl"], "60");

    const version = http.metadata.resourceVersion;
    await activities.setRoutes(target, routeTo(40));
    assert.equal(
      (await route("web")).metadata.resourceVersion,
      version,
      "the same routes again write nothing",
    );
  });

  it("A/B testing sends requests matching headers or cookies to the canary", async () => {
    await workload("shop");
    const target = await createCanary(
      namespace,
      "shop",
      canarySpec("shop", {
        analysis: {
          interval: "1s",
          iterations: 3,
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
            { headers: [{ name: "x-beta", value: "yes" }], queryParams: { beta: { prefix: "1" } } },
          ],
        },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));

    const http = await route("shop");
    assert.equal(http.spec.rules.length, 2);
    assert.deepEqual(http.spec.rules[0]?.matches, [
      {
        headers: [{ type: "Exact", name: "x-canary", value: "insider" }],
        path: { type: "PathPrefix", value: "/" },
      },
      {
        headers: [{ type: "RegularExpression", name: "cookie", value: "^(.*?;)?(canary=always)(;.*)?$" }],
        path: { type: "PathPrefix", value: "/" },
      },
      {
        headers: [{ type: "Exact", name: "x-beta", value: "yes" }],
        queryParams: [{ type: "RegularExpression", name: "beta", value: "^1.*" }],
        path: { type: "PathPrefix", value: "/" },
      },
    ]);
    assert.deepEqual(
      http.spec.rules[0]?.backendRefs.map((b) => b.weight),
      [0, 100],
    );
    assert.deepEqual(
      http.spec.rules[1]?.backendRefs.map((b) => b.weight),
      [100, 0],
      "everyone else stays on the primary",
    );
  });

  it("session affinity: the API server keeps the cookie rule and the canary's Set-Cookie filter", async () => {
    await workload("cart");
    const created = await createCanary(
      namespace,
      "cart",
      canarySpec("cart", {
        analysis: {
          interval: "1s",
          stepWeight: 25,
          maxWeight: 50,
          sessionAffinity: { cookieName: "cart-canary", maxAge: 120, sameSite: "Lax" },
        },
      }),
    );
    const target = { ...created, revision: "5f6d8c" };
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(25));
    assert.deepEqual(await activities.getRoutes(target), routeTo(25));
    const http = await route("cart");
    assert.equal(http.spec.rules.length, 2);
    assert.deepEqual(http.spec.rules[0]?.matches, [
      {
        headers: [{ type: "RegularExpression", name: "Cookie", value: "(.*; *)?cart-canary=5f6d8c(;.*)?" }],
        path: { type: "PathPrefix", value: "/" },
      },
    ]);
    assert.deepEqual(
      http.spec.rules[0]?.backendRefs.map((b) => b.weight),
      [0, 100],
    );
    assert.deepEqual(http.spec.rules[1]?.backendRefs[1], {
      group: "",
      kind: "Service",
      name: "cart-canary",
      port: 80,
      weight: 25,
      filters: [
        {
          type: "ResponseHeaderModifier",
          responseHeaderModifier: {
            add: [{ name: "Set-Cookie", value: "cart-canary=5f6d8c; Max-Age=120; SameSite=Lax" }],
          },
        },
      ],
    });
    // Promoted: one rule again, no cookies.
    await activities.setRoutes(target, routeTo(0));
    assert.equal((await route("cart")).spec.rules.length, 1);
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));
  });

  it("takes over an HTTPRoute the user had and gives it back on finalize; deletes the one it made", async () => {
    await workload("legacy");
    const original = {
      parentRefs: [{ name: "internal" }],
      rules: [{ backendRefs: [{ name: "legacy-v1", port: 8080 }] }],
    };
    await admin.create(RESOURCES.httpRoutes, namespace, { metadata: { name: "legacy" }, spec: original });
    const target = await createCanary(namespace, "legacy", canarySpec("legacy", { revertOnDeletion: true }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    let http = await route("legacy");
    assert.ok(http.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "the original is recorded");
    assert.equal(http.spec.rules[0]?.backendRefs[0]?.name, "legacy-primary");
    await activities.setRoutes(target, routeTo(20));
    // Promotion reconciles the routing objects before the primary rolls out: the weights stay.
    await activities.promote(target);
    assert.deepEqual(await activities.getRoutes(target), routeTo(20));

    await activities.finalize(target, true);
    await activities.finalize(target, true);
    http = await route("legacy");
    assert.equal(http.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    assert.deepEqual(
      http.spec.parentRefs?.map((p) => p.name),
      ["internal"],
    );
    assert.deepEqual(
      http.spec.rules.map((r) => r.backendRefs.map((b) => b.name)),
      [["legacy-v1"]],
    );

    assert.ok(webTarget, "the first test initialized web");
    await activities.finalize(webTarget, true);
    assert.equal(
      await admin.find(RESOURCES.httpRoutes, namespace, "web"),
      undefined,
      "the route it made is gone",
    );
  });
});

interface Version {
  readonly provider: Provider;
  /** The API the router writes the HTTPRoute through. */
  readonly type: ResourceType;
}

const VERSIONS: readonly Version[] = [
  { provider: "gatewayapi:v1", type: RESOURCES.httpRoutes },
  { provider: "gatewayapi:v1beta1", type: RESOURCES.httpRoutesV1beta1 },
];

describe("gatewayapi:v1 and gatewayapi:v1beta1 routers", () => {
  for (const { provider, type } of VERSIONS) {
    it(`${provider}: one owned HTTPRoute; a step is one request; promotion and a second reconcile only read; all on the primary after; deleted on finalize`, async () => {
      const name = `${type.version}-app`;
      await workload(name);
      const target = await createCanary(
        namespace,
        name,
        canarySpec(name, {
          provider,
          revertOnDeletion: true,
          service: { port: 80, targetPort: 8080, gatewayRefs: [{ name: "public", namespace: "gateways" }] },
          analysis: { interval: "1s", stepWeight: 20, maxWeight: 60 },
        }),
      );
      const { kube, activities } = operatorActivities();
      const created = await createdDuring(namespace, [RESOURCES.httpRoutes], () =>
        activities.initialize(target),
      );
      assert.deepEqual(created, [`httproutes/${name}`], "one HTTPRoute, named after the apex Service");
      let http = await route(name, type);
      assert.deepEqual(owners(http), await ownedByCanary(namespace, name));
      assert.ok(
        http.metadata.managedFields?.some(
          (f) => f.manager !== "test-user" && f.apiVersion === `gateway.networking.k8s.io/${type.version}`,
        ),
        `the operator applied it as ${type.version}`,
      );
      assert.deepEqual(split(http), onlyRule(name, 100));
      assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

      const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(20)));
      assert.deepEqual(step.requests, { "patch httproutes": 1 }, "one request per step");
      http = await route(name, type);
      assert.deepEqual(split(http), onlyRule(name, 80));

      // Promotion reconciles the routing before the primary rolls out: the split stays, unwritten.
      const promote = await kube.counter.measure(() => activities.promote(target));
      assert.deepEqual(requestsOn(promote.requests, "httproutes"), { "get httproutes": 1 });
      assert.deepEqual(await reconcileAgain(kube, target), { "get httproutes": 1 }, "only a read");
      assert.equal((await route(name, type)).metadata.resourceVersion, http.metadata.resourceVersion);
      assert.deepEqual(await activities.getRoutes(target), routeTo(20));

      await activities.setRoutes(target, PRIMARY_ONLY);
      assert.deepEqual(split(await route(name, type)), onlyRule(name, 100), "promoted: all on the primary");
      assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

      await activities.finalize(target, true);
      assert.equal(await admin.find(type, namespace, name), undefined, "the route it made is gone");
    });

    it(`${provider}: blue/green switches the whole route to the canary and back on rollback`, async () => {
      const name = `${type.version}-bg`;
      await workload(name);
      const target = await createCanary(
        namespace,
        name,
        canarySpec(name, { provider, analysis: { interval: "1s", iterations: 2 } }),
      );
      const { kube, activities } = operatorActivities();
      await activities.initialize(target);
      const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
      assert.deepEqual(step.requests, { "patch httproutes": 1 });
      const http = await route(name, type);
      assert.deepEqual(
        http.spec.rules[0]?.matches,
        [{ path: { type: "PathPrefix", value: "/" } }],
        "every request: no A/B rule",
      );
      assert.deepEqual(split(http), onlyRule(name, 0));
      assert.deepEqual(await activities.getRoutes(target), routeTo(100));

      await activities.setRoutes(target, PRIMARY_ONLY);
      assert.deepEqual(split(await route(name, type)), onlyRule(name, 100));
      assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    });
  }
});

describe("Linkerd's Gateway API path: gatewayapi:v1beta1 with the HTTPRoute attached to the apex Service", () => {
  // Linkerd's guide spells the core group "core"; the Gateway API spells it "".
  for (const [group, name] of [
    ["core", "mesh-core"],
    ["", "mesh-empty"],
  ] as const) {
    it(`parentRef kind Service, group ${JSON.stringify(group)}: kept as written; weights split by backendRef`, async () => {
      await workload(name);
      const parent = { group, kind: "Service", name, namespace, port: 9898 };
      const target = await createCanary(
        namespace,
        name,
        canarySpec(name, {
          provider: "gatewayapi:v1beta1",
          service: { port: 9898, targetPort: 8080, gatewayRefs: [parent] },
          analysis: { interval: "1s", stepWeight: 30, maxWeight: 60 },
        }),
      );
      const { kube, activities } = operatorActivities();
      const created = await createdDuring(
        namespace,
        [RESOURCES.httpRoutes, RESOURCES.trafficSplitsV1alpha1],
        () => activities.initialize(target),
      );
      assert.deepEqual(created, [`httproutes/${name}`], "an HTTPRoute, no TrafficSplit");
      let http = await route(name, RESOURCES.httpRoutesV1beta1);
      assert.deepEqual(http.spec.parentRefs, [parent]);
      assert.deepEqual(split(http), onlyRule(name, 100, 9898));

      await activities.setRoutes(target, routeTo(30));
      http = await route(name, RESOURCES.httpRoutesV1beta1);
      assert.deepEqual(split(http), onlyRule(name, 70, 9898));
      assert.deepEqual(http.spec.parentRefs, [parent], "a step keeps the parent");
      assert.deepEqual(await activities.getRoutes(target), routeTo(30));
      assert.deepEqual(await reconcileAgain(kube, target), { "get httproutes": 1 }, "nothing to write");
    });
  }
});
