/**
 * The Gloo router against the Upstream and RouteTable CRDs, as the operator's service account:
 * the two Upstreams and the RouteTable Flagger creates (owned by the Canary, the Upstreams with
 * upstreamRef's settings), weight steps and mirroring (shadowing) at one request each, A/B routes
 * in front of the split, session-affinity cookies, blue/green, all traffic back on the primary
 * after promotion or rollback, a reconcile with nothing changed writing nothing, a RouteTable the
 * user had given back on finalize, and refusals that name what to fix.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import { glooRouter } from "../../activities/routing/gloo.ts";
import type { RouterContext } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS, type Target } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  operatorClient,
  resolve,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("routing-gloo");

interface Metadata {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  resourceVersion?: string;
}

interface Destination {
  destination: { upstream: { name: string; namespace: string } };
  weight: number;
  options?: unknown;
}

interface RouteTable {
  metadata: Metadata;
  spec: {
    routes: {
      matchers?: Record<string, unknown>[];
      inheritablePathMatchers?: boolean;
      routeAction: { multi: { destinations: Destination[] } };
      options?: { shadowing?: unknown };
    }[];
  };
}

async function routeTable(name: string): Promise<RouteTable> {
  return admin.get<RouteTable>(RESOURCES.glooRouteTables, namespace, name);
}

/** [upstream, weight] of each destination of each route. */
async function weights(name: string): Promise<[string, number][][]> {
  return (await routeTable(name)).spec.routes.map((route) =>
    route.routeAction.multi.destinations.map((d) => [d.destination.upstream.name, d.weight]),
  );
}

function upstreamOf(service: string, side: "primary" | "canary", port = 80): string {
  return `${namespace}-${service}-${side}upstream-${port}`;
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

function glooSpec(target: string, overrides: Partial<CanarySpec> = {}): CanarySpec {
  return canarySpec(target, { provider: "gloo", ...overrides });
}

async function uidOf(name: string): Promise<string> {
  return (await admin.get<{ metadata: { uid: string } }>(RESOURCES.canaries, namespace, name)).metadata.uid;
}

function routerContext(spec: CanarySpec): RouterContext {
  return {
    kube: operatorClient(),
    namespace,
    spec: resolve(spec),
    revision: undefined,
    settings: DEFAULT_WORKLOAD_SETTINGS,
  };
}

let webTarget: Target | undefined;

describe("gloo router", () => {
  it("creates the owned Upstreams and RouteTable Flagger creates; steps and mirroring are one request; a reconcile with nothing changed writes nothing", async () => {
    await workload("web");
    // The settings Flagger copies from upstreamRef, on an Upstream reaching the hosts its own way.
    const settings = { sslConfig: { sni: "web.example.test" }, circuitBreakers: { maxConnections: 10 } };
    await admin.create(RESOURCES.glooUpstreams, namespace, {
      metadata: { name: "web-settings" },
      spec: { ...settings, static: { hosts: [{ addr: "10.0.0.1", port: 80 }] } },
    });
    const spec = glooSpec("web", {
      upstreamRef: { apiVersion: "gloo.solo.io/v1", kind: "Upstream", name: "web-settings" },
      service: { port: 9898, targetPort: 8080, apex: { labels: { team: "web" } } },
      analysis: { interval: "1s", stepWeight: 20, maxWeight: 60, mirror: true, mirrorWeight: 50 },
    });
    const target = await createCanary(namespace, "web", spec);
    webTarget = target;
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const uid = await uidOf("web");
    const primary = upstreamOf("web", "primary", 9898);
    const canary = upstreamOf("web", "canary", 9898);

    const upstreams = await admin.list<{ metadata: Metadata; spec: Record<string, unknown> }>(
      RESOURCES.glooUpstreams,
      namespace,
    );
    assert.deepEqual(
      upstreams.items.map((u) => u.metadata.name).sort(),
      [canary, primary, "web-settings"].sort(),
    );
    for (const [name, service] of [
      [primary, "web-primary"],
      [canary, "web-canary"],
    ]) {
      const upstream = upstreams.items.find((u) => u.metadata.name === name);
      assert.deepEqual(
        upstream?.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [["Canary", "web", uid, true]],
      );
      assert.deepEqual(upstream?.spec, {
        ...settings,
        kube: { serviceName: service, serviceNamespace: namespace, servicePort: 9898 },
      });
    }

    const tables = await admin.list<RouteTable>(RESOURCES.glooRouteTables, namespace);
    assert.deepEqual(
      tables.items.map((t) => t.metadata.name),
      ["web"],
      "one RouteTable, named after the apex Service",
    );
    let web = await routeTable("web");
    assert.deepEqual(
      web.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [["Canary", "web", uid, true]],
    );
    assert.equal(web.metadata.labels?.team, "web");
    assert.deepEqual(web.spec, {
      routes: [
        {
          inheritablePathMatchers: true,
          routeAction: {
            multi: {
              destinations: [
                { destination: { upstream: { name: primary, namespace } }, weight: 100 },
                { destination: { upstream: { name: canary, namespace } }, weight: 0 },
              ],
            },
          },
        },
      ],
    });
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    const mirror = await kube.counter.measure(() => activities.setRoutes(target, routeTo(0, true)));
    assert.deepEqual(mirror.requests, { "patch routetables": 1 }, "one request for the mirror step");
    assert.deepEqual(await activities.getRoutes(target), routeTo(0, true));
    assert.deepEqual((await routeTable("web")).spec.routes[0]?.options, {
      shadowing: { upstream: { name: canary, namespace }, percentage: 50 },
    });

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(40)));
    assert.deepEqual(step.requests, { "patch routetables": 1 }, "one request per step");
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    assert.deepEqual(await weights("web"), [
      [
        [primary, 60],
        [canary, 40],
      ],
    ]);
    assert.equal(
      (await routeTable("web")).spec.routes[0]?.options,
      undefined,
      "mirroring ends with its step",
    );

    // A reconcile with nothing changed only reads.
    const ctx = routerContext(spec);
    const again = await ctx.kube.counter.measure(() => glooRouter.reconcile(ctx, { name: "web", uid }));
    assert.deepEqual(again.requests, { "get upstreams": 3, "get routetables": 1 });

    // Promotion reconciles the routing again: the split stays until the workflow routes.
    web = await routeTable("web");
    await activities.promote(target);
    assert.equal((await routeTable("web")).metadata.resourceVersion, web.metadata.resourceVersion);
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    assert.deepEqual(await weights("web"), [
      [
        [primary, 100],
        [canary, 0],
      ],
    ]);
  });

  it("A/B testing: a route matching any condition in front of the primary's route", async () => {
    await workload("shop");
    const target = await createCanary(
      namespace,
      "shop",
      glooSpec("shop", {
        analysis: {
          interval: "1s",
          iterations: 2,
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
            {
              headers: [{ name: "x-beta", value: "yes" }],
              queryParams: { beta: { prefix: "1" } },
              method: "GET",
            },
          ],
        },
      }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
    assert.deepEqual(step.requests, { "patch routetables": 1 });
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));

    const shop = await routeTable("shop");
    assert.deepEqual(
      shop.spec.routes.map((r) => r.matchers),
      [
        [
          { headers: [{ name: "x-canary", value: "insider" }] },
          { headers: [{ name: "cookie", value: "^(.*?;)?(canary=always)(;.*)?$", regex: true }] },
          {
            headers: [{ name: "x-beta", value: "yes" }],
            queryParameters: [{ name: "beta", value: "^1.*", regex: true }],
            methods: ["GET"],
          },
        ],
        undefined,
      ],
    );
    assert.deepEqual(await weights("shop"), [
      [
        [upstreamOf("shop", "primary"), 0],
        [upstreamOf("shop", "canary"), 100],
      ],
      [
        [upstreamOf("shop", "primary"), 100],
        [upstreamOf("shop", "canary"), 0],
      ],
    ]);

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY, "rolled back: all on the primary");
    assert.ok(
      (await weights("shop")).every((route) => route[0]?.[1] === 100 && route[1]?.[1] === 0),
      "no condition still sends anyone to the canary",
    );
  });

  it("session affinity: a cookie route in front, Set-Cookie on the canary's destination", async () => {
    await workload("cart");
    const created = await createCanary(
      namespace,
      "cart",
      glooSpec("cart", {
        analysis: {
          interval: "1s",
          stepWeight: 25,
          maxWeight: 50,
          sessionAffinity: { cookieName: "cart-canary", maxAge: 120 },
        },
      }),
    );
    const target = { ...created, revision: "5f6d8c" };
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(25));
    assert.deepEqual(await activities.getRoutes(target), routeTo(25));
    const cart = await routeTable("cart");
    assert.deepEqual(
      cart.spec.routes.map((r) => r.matchers),
      [
        [{ headers: [{ name: "Cookie", value: "(.*; *)?cart-canary=5f6d8c(;.*)?", regex: true }] }],
        undefined,
      ],
    );
    assert.deepEqual(await weights("cart"), [
      [
        [upstreamOf("cart", "primary"), 0],
        [upstreamOf("cart", "canary"), 100],
      ],
      [
        [upstreamOf("cart", "primary"), 75],
        [upstreamOf("cart", "canary"), 25],
      ],
    ]);
    assert.deepEqual(
      cart.spec.routes[1]?.routeAction.multi.destinations.map((d) => d.options),
      [
        undefined,
        {
          headerManipulation: {
            responseHeadersToAdd: [
              { header: { key: "Set-Cookie", value: "cart-canary=5f6d8c; Max-Age=120" }, append: true },
            ],
          },
        },
      ],
    );
    // Promoted: one route again, no cookies.
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.equal((await routeTable("cart")).spec.routes.length, 1);
  });

  it("blue/green switches the whole route to the canary and back", async () => {
    await workload("blue");
    const target = await createCanary(
      namespace,
      "blue",
      glooSpec("blue", { analysis: { interval: "1s", iterations: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await weights("blue"), [
      [
        [upstreamOf("blue", "primary"), 0],
        [upstreamOf("blue", "canary"), 100],
      ],
    ]);
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
  });

  it("refuses a path condition and a missing upstreamRef, naming what to fix, before writing anything", async () => {
    const cases: [string, Partial<CanarySpec>, string, RegExp, Record<string, number>][] = [
      [
        "path",
        { analysis: { interval: "1s", iterations: 2, match: [{ uri: { prefix: "/beta" } }] } },
        NON_RETRYABLE_ERRORS.invalidSpec,
        /^analysis\.match\[0\] matches on the path, which the gloo provider cannot do: .* match on headers, queryParams or method$/,
        {},
      ],
      [
        "nosettings",
        { upstreamRef: { apiVersion: "gloo.solo.io/v1", kind: "Upstream", name: "missing" } },
        NON_RETRYABLE_ERRORS.targetNotFound,
        /^Upstream routing-gloo-\d+\/missing \(upstreamRef\) not found: create it, or fix or remove upstreamRef$/,
        { "get upstreams": 1 },
      ],
    ];
    for (const [name, overrides, type, message, requests] of cases) {
      const spec = glooSpec(name, overrides);
      await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
      const ctx = routerContext(spec);
      const uid = await uidOf(name);
      const attempt = await ctx.kube.counter.measure(() =>
        glooRouter.reconcile(ctx, { name, uid }).then(
          () => assert.fail(`${name}: accepted`),
          (error: unknown) => {
            assert.ok(error instanceof ApplicationFailure, String(error));
            assert.equal(error.type, type);
            assert.match(error.message, message);
          },
        ),
      );
      assert.deepEqual(attempt.requests, requests, `${name}: nothing written`);
    }
  });

  it("gives back a RouteTable the user had and deletes the objects it created", async () => {
    await workload("legacy");
    const original = {
      routes: [{ matchers: [{ prefix: "/" }], routeAction: { single: { upstream: { name: "legacy-v1" } } } }],
    };
    await admin.create(RESOURCES.glooRouteTables, namespace, {
      metadata: { name: "legacy" },
      spec: original,
    });
    const target = await createCanary(namespace, "legacy", glooSpec("legacy", { revertOnDeletion: true }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    let legacy = await routeTable("legacy");
    assert.ok(legacy.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "the original is recorded");
    assert.equal(legacy.metadata.ownerReferences, undefined, "taken over, not owned");
    assert.deepEqual(await weights("legacy"), [
      [
        [upstreamOf("legacy", "primary"), 100],
        [upstreamOf("legacy", "canary"), 0],
      ],
    ]);
    await activities.setRoutes(target, routeTo(20));

    await activities.finalize(target, true);
    legacy = await routeTable("legacy");
    assert.deepEqual(legacy.spec, original);
    assert.equal(legacy.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    for (const side of ["primary", "canary"] as const) {
      assert.equal(
        await admin.find(RESOURCES.glooUpstreams, namespace, upstreamOf("legacy", side)),
        undefined,
      );
    }

    assert.ok(webTarget, "the first test initialized web");
    await activities.finalize(webTarget, true);
    assert.equal(
      await admin.find(RESOURCES.glooRouteTables, namespace, "web"),
      undefined,
      "the one it made is gone",
    );
    assert.equal(
      await admin.find(RESOURCES.glooUpstreams, namespace, upstreamOf("web", "canary", 9898)),
      undefined,
    );
    assert.ok(
      await admin.find(RESOURCES.glooUpstreams, namespace, "web-settings"),
      "upstreamRef's Upstream is the user's: it stays",
    );
  });
});
