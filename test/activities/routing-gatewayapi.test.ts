/**
 * The Gateway API router against the real HTTPRoute CRD: weights, mirroring and A/B matches round
 * trip through setRoutes/getRoutes; spec.service fields shape the route; fields other managers
 * set survive every step; a route the user had before is given back on finalize.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("routing-gw");
let webTarget: Target | undefined;

interface HttpRoute {
  metadata: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: {
    parentRefs?: { name: string; namespace?: string }[];
    hostnames?: string[];
    rules: {
      matches?: Record<string, unknown>[];
      filters?: { type: string; [key: string]: unknown }[];
      backendRefs: { name: string; port: number; weight: number; [key: string]: unknown }[];
      timeouts?: { request?: string; backendRequest?: string };
    }[];
  };
}

async function route(name: string): Promise<HttpRoute> {
  return admin.get<HttpRoute>(RESOURCES.httpRoutes, namespace, name);
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

describe("gatewayapi:v1beta1 router", () => {
  it("writes the same HTTPRoute through the v1beta1 API: one request per step, nothing when unchanged, deleted on finalize", async () => {
    await workload("beta");
    const target = await createCanary(
      namespace,
      "beta",
      canarySpec("beta", {
        provider: "gatewayapi:v1beta1",
        revertOnDeletion: true,
        service: { port: 80, targetPort: 8080, gatewayRefs: [{ name: "public", namespace: "gateways" }] },
        analysis: { interval: "1s", stepWeight: 20, maxWeight: 60 },
      }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(20)));
    assert.deepEqual(step.requests, { "patch httproutes": 1 }, "one request per step");
    const written = await admin.get<
      HttpRoute & { metadata: { managedFields?: { manager?: string; apiVersion?: string }[] } }
    >(RESOURCES.httpRoutesV1beta1, namespace, "beta");
    assert.deepEqual(
      written.spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight]),
      [
        ["beta-primary", 80],
        ["beta-canary", 20],
      ],
    );
    assert.ok(
      written.metadata.managedFields?.some(
        (f) => f.manager !== "test-user" && f.apiVersion === "gateway.networking.k8s.io/v1beta1",
      ),
      "the operator applied it as v1beta1",
    );
    const again = await kube.counter.measure(() => activities.setRoutes(target, routeTo(20)));
    assert.equal(again.requests["patch httproutes"], 1);
    assert.equal(
      (await route("beta")).metadata.resourceVersion,
      written.metadata.resourceVersion,
      "unchanged: no write",
    );

    await activities.setRoutes(target, routeTo(0));
    assert.deepEqual(await activities.getRoutes(target), routeTo(0), "rolled back: all on the primary");
    await activities.finalize(target, true);
    assert.equal(await admin.find(RESOURCES.httpRoutesV1beta1, namespace, "beta"), undefined);
  });
});
