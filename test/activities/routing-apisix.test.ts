/**
 * The APISIX router against the ApisixRoute CRD, as the operator's service account: the canary
 * ApisixRoute Flagger creates from the user's route (owned by the Canary; the user's route never
 * written), weight steps at two requests, blue/green, all traffic back on the primary after
 * promotion or rollback, a reconcile with nothing changed writing nothing, the canary route
 * deleted on finalize, and refusals that name what to fix.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import { apisixRouter } from "../../activities/routing/apisix.ts";
import type { RouterContext } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { applyDefaults } from "../../src/api/defaults.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
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

const namespace = testNamespace("routing-apisix");

interface Backend {
  serviceName: string;
  servicePort: number;
  weight?: number;
}

interface ApisixRoute {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    resourceVersion?: string;
  };
  spec: { http: { name: string; priority?: number; backends: Backend[]; [key: string]: unknown }[] };
}

async function apisixRoute(name: string): Promise<ApisixRoute> {
  return admin.get<ApisixRoute>(RESOURCES.apisixRoutes, namespace, name);
}

/** [service, weight] of each backend of the canary route's rule. */
async function weights(name: string): Promise<[string, number | undefined][]> {
  const [rule] = (await apisixRoute(name)).spec.http;
  return (rule?.backends ?? []).map((b) => [b.serviceName, b.weight]);
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

/** The user's route: a rule for `service` (with a plugin) and one for another backend. */
function userRouteSpec(service: string, paths = ["/*"]) {
  return {
    http: [
      {
        name: "other",
        match: { paths: ["/other/*"] },
        backends: [{ serviceName: "other", servicePort: 80 }],
      },
      {
        name: "main",
        match: { hosts: [`${service}.example.test`], paths, methods: ["GET"] },
        backends: [{ serviceName: service, servicePort: 80, resolveGranularity: "service" }],
        plugins: [{ name: "prometheus", enable: true, config: { prefer_name: true } }],
      },
    ],
  };
}

async function createUserRoute(name: string, service: string): Promise<ApisixRoute> {
  return admin.create<ApisixRoute>(RESOURCES.apisixRoutes, namespace, {
    metadata: {
      name,
      labels: { team: "edge", "kustomize.toolkit.fluxcd.io/name": "apps" },
      annotations: { "kubernetes.io/ingress.class": "apisix" },
    },
    spec: userRouteSpec(service),
  });
}

function apisixSpec(target: string, overrides: Partial<CanarySpec> = {}): CanarySpec {
  return canarySpec(target, {
    provider: "apisix",
    routeRef: { apiVersion: "apisix.apache.org/v2", kind: "ApisixRoute", name: `${target}-route` },
    ...overrides,
  });
}

async function uidOf(name: string): Promise<string> {
  return (await admin.get<{ metadata: { uid: string } }>(RESOURCES.canaries, namespace, name)).metadata.uid;
}

/** `validated: false` skips validation, to reach the router's own checks with what it refuses too. */
function routerContext(spec: CanarySpec, validated = true): RouterContext {
  return {
    kube: operatorClient(),
    namespace,
    spec: validated ? resolve(spec) : applyDefaults(spec),
    revision: undefined,
    settings: DEFAULT_WORKLOAD_SETTINGS,
  };
}

describe("apisix router", () => {
  it("creates the owned canary ApisixRoute from the user's rule; steps are two requests; a reconcile with nothing changed writes nothing", async () => {
    await workload("web");
    const user = await createUserRoute("web-route", "web");
    const spec = apisixSpec("web", { revertOnDeletion: true });
    const target = await createCanary(namespace, "web", spec);
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const uid = await uidOf("web");

    const routes = await admin.list<ApisixRoute>(RESOURCES.apisixRoutes, namespace);
    assert.deepEqual(routes.items.map((r) => r.metadata.name).sort(), ["web-route", "web-route-web-canary"]);
    const after = await apisixRoute("web-route");
    assert.equal(
      after.metadata.resourceVersion,
      user.metadata.resourceVersion,
      "the user's route is never written",
    );

    const copy = await apisixRoute("web-route-web-canary");
    assert.deepEqual(
      copy.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [["Canary", "web", uid, true]],
    );
    assert.equal(
      copy.metadata.annotations?.["kubernetes.io/ingress.class"],
      "apisix",
      "its ingress class too",
    );
    assert.equal(copy.metadata.labels?.team, "edge");
    assert.equal(
      copy.metadata.labels?.["kustomize.toolkit.fluxcd.io/name"],
      undefined,
      "Flux would prune it",
    );
    assert.deepEqual(copy.spec, {
      http: [
        {
          name: "main",
          match: { hosts: ["web.example.test"], paths: ["/*"], methods: ["GET"] },
          plugins: [{ name: "prometheus", enable: true, config: { prefer_name: true } }],
          priority: 10_000,
          backends: [
            { serviceName: "web-primary", servicePort: 80, resolveGranularity: "service", weight: 100 },
            { serviceName: "web-canary", servicePort: 80, resolveGranularity: "service", weight: 0 },
          ],
        },
      ],
    });
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(40)));
    assert.deepEqual(
      step.requests,
      { "get apisixroutes": 1, "patch apisixroutes": 1 },
      "two requests per step",
    );
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    assert.deepEqual(await weights("web-route-web-canary"), [
      ["web-primary", 60],
      ["web-canary", 40],
    ]);

    const ctx = routerContext(spec);
    const again = await ctx.kube.counter.measure(() => apisixRouter.reconcile(ctx, { name: "web", uid }));
    assert.deepEqual(again.requests, { "get apisixroutes": 2 }, "only reads");

    // Promotion reconciles the routing again: the split stays until the workflow routes.
    await activities.promote(target);
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await weights("web-route-web-canary"), [
      ["web-primary", 100],
      ["web-canary", 0],
    ]);

    // A change to the user's rule reaches the copy with the next step.
    const changed = userRouteSpec("web", ["/v2/*"]);
    await admin.mergePatch(RESOURCES.apisixRoutes, namespace, "web-route", { spec: changed });
    await activities.setRoutes(target, routeTo(20));
    assert.deepEqual((await apisixRoute("web-route-web-canary")).spec.http[0]?.match, {
      hosts: ["web.example.test"],
      paths: ["/v2/*"],
      methods: ["GET"],
    });

    await activities.finalize(target, true);
    assert.equal(await admin.find(RESOURCES.apisixRoutes, namespace, "web-route-web-canary"), undefined);
    const kept = await apisixRoute("web-route");
    assert.deepEqual(kept.spec, changed, "the user's route stays as the user left it");
    assert.equal(kept.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
  });

  it("blue/green switches the whole rule to the canary and back", async () => {
    await workload("blue");
    await createUserRoute("blue-route", "blue");
    const target = await createCanary(
      namespace,
      "blue",
      apisixSpec("blue", { analysis: { interval: "1s", iterations: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));
    assert.deepEqual(await weights("blue-route-blue-canary"), [
      ["blue-primary", 0],
      ["blue-canary", 100],
    ]);
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
  });

  it("refuses what it cannot route, naming what to fix, before writing anything", async () => {
    await admin.create(RESOURCES.apisixRoutes, namespace, {
      metadata: { name: "elsewhere" },
      spec: {
        http: [
          { name: "main", match: { paths: ["/*"] }, backends: [{ serviceName: "other", servicePort: 80 }] },
        ],
      },
    });
    await admin.create(RESOURCES.apisixRoutes, namespace, {
      metadata: { name: "split" },
      spec: {
        http: [
          {
            name: "main",
            match: { paths: ["/*"] },
            backends: [
              { serviceName: "split", servicePort: 80, weight: 50 },
              { serviceName: "legacy", servicePort: 80, weight: 50 },
            ],
          },
        ],
      },
    });
    const ref = (name: string) => ({ apiVersion: "apisix.apache.org/v2", kind: "ApisixRoute", name });
    const invalid = NON_RETRYABLE_ERRORS.invalidSpec;
    const cases: [string, Partial<CanarySpec>, string, RegExp, Record<string, number>][] = [
      [
        "noref",
        { routeRef: undefined },
        invalid,
        /^the apisix provider needs routeRef: set it to the ApisixRoute \(apisix\.apache\.org\/v2\) that routes to Service noref$/,
        {},
      ],
      [
        "ab",
        {
          analysis: { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "on" } } }] },
        },
        invalid,
        /^the apisix provider cannot route by analysis\.match \(A\/B testing\): remove analysis\.match to run blue\/green/,
        {},
      ],
      [
        "mirror",
        { analysis: { interval: "1s", stepWeight: 10, mirror: true } },
        invalid,
        /^the apisix provider cannot mirror traffic: remove analysis\.mirror$/,
        {},
      ],
      [
        "sticky",
        { analysis: { interval: "1s", stepWeight: 10, sessionAffinity: { cookieName: "sticky" } } },
        invalid,
        /^the apisix provider has no session affinity: remove analysis\.sessionAffinity$/,
        {},
      ],
      [
        "missing",
        {},
        NON_RETRYABLE_ERRORS.targetNotFound,
        /^ApisixRoute routing-apisix-\d+\/missing-route \(routeRef\) not found: create it, or fix routeRef$/,
        { "get apisixroutes": 1 },
      ],
      [
        "unrouted",
        { routeRef: ref("elsewhere") },
        invalid,
        /^ApisixRoute routing-apisix-\d+\/elsewhere \(routeRef\) has no http rule with a backend for Service unrouted: add one$/,
        { "get apisixroutes": 1 },
      ],
      [
        "split",
        { routeRef: ref("split") },
        invalid,
        /^ApisixRoute routing-apisix-\d+\/split \(routeRef\) rule main has 2 backends; the apisix provider needs Service split as its only backend/,
        { "get apisixroutes": 1 },
      ],
    ];
    for (const [name, overrides, type, message, requests] of cases) {
      const spec = apisixSpec(name, overrides);
      await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
      const ctx = routerContext(spec, false);
      const uid = await uidOf(name);
      const attempt = await ctx.kube.counter.measure(() =>
        apisixRouter.reconcile(ctx, { name, uid }).then(
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
});
