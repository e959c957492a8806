/**
 * The Kuma router against the cluster-scoped TrafficRoute CRD, as the operator's service account:
 * the TrafficRoute Flagger creates (in the Canary's mesh, marked as the Canary's since it cannot
 * be owned), weight steps at two requests, blue/green, all traffic back on the primary after
 * promotion or rollback, a reconcile with nothing changed writing nothing, finalize deleting the
 * route it made and giving back one the user had, and refusals that name what to fix.
 * TrafficRoutes outlive test namespaces: every name here is unique to the run, and removed after.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import { kumaRouter, OWNER_ANNOTATION } from "../../activities/routing/kuma.ts";
import type { RouterContext } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { applyDefaults } from "../../src/api/defaults.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS, type Target } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import { waitFor } from "../harness/process.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  deployment,
  operatorActivities,
  operatorClient,
  resolve,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("routing-kuma");
const TRAFFIC_ROUTES = RESOURCES.kumaTrafficRoutes;

/** Unique to this run: TrafficRoutes are cluster-wide. */
function unique(name: string): string {
  return `${name}-${process.pid}`;
}

after(async () => {
  for (const name of ["web", "blue", "legacy", "orphan"].map(unique))
    await admin.delete(TRAFFIC_ROUTES, "", name);
});

interface TrafficRoute {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
    resourceVersion?: string;
  };
  mesh?: string;
  spec: {
    sources?: unknown[];
    destinations?: unknown[];
    conf: { split: { weight: number; destination: Record<string, string> }[] };
  };
}

async function trafficRoute(name: string): Promise<TrafficRoute> {
  return admin.get<TrafficRoute>(TRAFFIC_ROUTES, "", name);
}

/** [kuma.io/service, weight] of each split. */
async function weights(name: string): Promise<[string | undefined, number][]> {
  return (await trafficRoute(name)).spec.conf.split.map((s) => [s.destination["kuma.io/service"], s.weight]);
}

function tag(service: string, port = 80): string {
  return `${service}_${namespace}_svc_${port}`;
}

function kumaSpec(name: string, overrides: Partial<CanarySpec> = {}): CanarySpec {
  return canarySpec(name, { provider: "kuma", ...overrides });
}

/** A Canary (with its workload), annotated as users pick a Kuma mesh. */
async function createKumaCanary(name: string, spec: CanarySpec, mesh?: string): Promise<Target> {
  await createAvailable(deployment(namespace, name, 1));
  const annotations = mesh === undefined ? {} : { "kuma.io/mesh": mesh };
  await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace, annotations }, spec });
  return { ref: { namespace, name }, spec: resolve(spec) };
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

describe("kuma router", () => {
  it("creates the TrafficRoute Flagger creates, in the Canary's mesh; steps are two requests; a reconcile with nothing changed writes nothing; finalize deletes it", async () => {
    const web = unique("web");
    const spec = kumaSpec(web, {
      service: { port: 9898, targetPort: 8080, apex: { labels: { team: "web" } } },
      revertOnDeletion: true,
    });
    const target = await createKumaCanary(web, spec, "edge");
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const uid = await uidOf(web);

    let route = await trafficRoute(web);
    assert.equal(route.metadata.ownerReferences, undefined, "cluster-scoped: no namespaced owner");
    assert.equal(route.metadata.annotations?.[OWNER_ANNOTATION], `${namespace}/${web}/${uid}`);
    assert.equal(route.metadata.labels?.team, "web");
    assert.equal(route.mesh, "edge");
    assert.deepEqual(route.spec, {
      sources: [{ match: { "kuma.io/service": "*" } }],
      destinations: [{ match: { "kuma.io/service": tag(web, 9898) } }],
      conf: {
        split: [
          { weight: 100, destination: { "kuma.io/service": tag(`${web}-primary`, 9898) } },
          { weight: 0, destination: { "kuma.io/service": tag(`${web}-canary`, 9898) } },
        ],
      },
    });
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(40)));
    assert.deepEqual(
      step.requests,
      { "get trafficroutes": 1, "patch trafficroutes": 1 },
      "two requests per step",
    );
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    assert.deepEqual(await weights(web), [
      [tag(`${web}-primary`, 9898), 60],
      [tag(`${web}-canary`, 9898), 40],
    ]);
    route = await trafficRoute(web);
    assert.equal(route.mesh, "edge", "the step keeps the mesh");
    assert.equal(
      route.metadata.annotations?.[OWNER_ANNOTATION],
      `${namespace}/${web}/${uid}`,
      "and the mark",
    );

    const ctx = routerContext(spec);
    const again = await ctx.kube.counter.measure(() => kumaRouter.reconcile(ctx, { name: web, uid }));
    assert.deepEqual(again.requests, { "get canaries": 1, "get trafficroutes": 1 }, "only reads");

    // Promotion reconciles the routing again: the split stays until the workflow routes.
    await activities.promote(target);
    assert.equal((await trafficRoute(web)).metadata.resourceVersion, route.metadata.resourceVersion);
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    await activities.finalize(target, true);
    assert.equal(await admin.find(TRAFFIC_ROUTES, "", web), undefined, "the route it made is gone");
  });

  it("blue/green switches all traffic to the canary and back, in the default mesh", async () => {
    const blue = unique("blue");
    const target = await createKumaCanary(
      blue,
      kumaSpec(blue, { analysis: { interval: "1s", iterations: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    assert.equal((await trafficRoute(blue)).mesh, "default");
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await weights(blue), [
      [tag(`${blue}-primary`), 0],
      [tag(`${blue}-canary`), 100],
    ]);
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
  });

  it("refuses what Kuma's router cannot do and another Canary's TrafficRoute, before writing anything", async () => {
    const blue = unique("blue");
    const invalid = NON_RETRYABLE_ERRORS.invalidSpec;
    const cases: [string, Partial<CanarySpec>, RegExp, Record<string, number>][] = [
      [
        "ab",
        {
          analysis: { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "on" } } }] },
        },
        /^the kuma provider cannot route by analysis\.match \(A\/B testing\): remove analysis\.match to run blue\/green/,
        {},
      ],
      [
        "mirror",
        { analysis: { interval: "1s", stepWeight: 10, mirror: true } },
        /^the kuma provider cannot mirror traffic: remove analysis\.mirror$/,
        {},
      ],
      [
        "sticky",
        { analysis: { interval: "1s", stepWeight: 10, sessionAffinity: { cookieName: "sticky" } } },
        /^the kuma provider has no session affinity: remove analysis\.sessionAffinity$/,
        {},
      ],
      [
        "twin",
        // The same apex Service name as the blue/green Canary's route.
        { service: { port: 80, name: blue } },
        new RegExp(
          `^TrafficRoute ${blue} belongs to Canary ${namespace}/${blue}: TrafficRoutes are cluster-wide and named after the apex Service: set service.name to a name no other Canary uses$`,
        ),
        // Its own Canary, the route, and the route's Canary (alive: refused).
        { "get canaries": 2, "get trafficroutes": 1 },
      ],
    ];
    for (const [name, overrides, message, requests] of cases) {
      const spec = kumaSpec(name, overrides);
      await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
      const ctx = routerContext(spec, false);
      const uid = await uidOf(name);
      const attempt = await ctx.kube.counter.measure(() =>
        kumaRouter.reconcile(ctx, { name, uid }).then(
          () => assert.fail(`${name}: accepted`),
          (error: unknown) => {
            assert.ok(error instanceof ApplicationFailure, String(error));
            assert.equal(error.type, invalid);
            assert.match(error.message, message);
          },
        ),
      );
      assert.deepEqual(attempt.requests, requests, `${name}: nothing written`);
    }
  });

  it("reclaims a TrafficRoute whose Canary was deleted without revertOnDeletion, and recreated", async () => {
    const orphan = unique("orphan");
    const first = await createKumaCanary(orphan, kumaSpec(orphan));
    await operatorActivities().activities.initialize(first);
    await admin.delete(RESOURCES.canaries, namespace, orphan);
    // The garbage collector removes what the Canary owned (its primary) in the background; until
    // then initialize rightly says it waits for it. The cluster-wide TrafficRoute has no owner.
    await waitFor(
      "the deleted Canary's primary collected",
      async () =>
        (await admin.find(RESOURCES.deployments, namespace, `${orphan}-primary`)) ? undefined : true,
      { timeoutMs: 60_000 },
    );
    // The same Canary applied again: the target is still there, the Canary has a new UID.
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name: orphan, namespace },
      spec: kumaSpec(orphan),
    });
    const again = first;
    const { activities } = operatorActivities();
    await activities.initialize(again);
    const uid = await uidOf(orphan);
    assert.equal(
      (await trafficRoute(orphan)).metadata.annotations?.[OWNER_ANNOTATION],
      `${namespace}/${orphan}/${uid}`,
      "marked as the new Canary's",
    );
    await activities.finalize(again, true);
    assert.equal(await admin.find(TRAFFIC_ROUTES, "", orphan), undefined, "deleted as its own");
  });

  it("takes over a TrafficRoute the user had and gives back its mesh and spec on finalize", async () => {
    const legacy = unique("legacy");
    const original = {
      sources: [{ match: { "kuma.io/service": "*" } }],
      destinations: [{ match: { "kuma.io/service": tag(legacy) } }],
      conf: { destination: { "kuma.io/service": tag(legacy) } },
    };
    await admin.create(TRAFFIC_ROUTES, "", {
      metadata: { name: legacy },
      mesh: "legacy-mesh",
      spec: original,
    });
    const target = await createKumaCanary(legacy, kumaSpec(legacy, { revertOnDeletion: true }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    let route = await trafficRoute(legacy);
    assert.ok(route.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "the original is recorded");
    assert.equal(route.metadata.annotations?.[OWNER_ANNOTATION], undefined, "taken over, not the Canary's");
    assert.equal(route.mesh, "default");
    assert.deepEqual(await weights(legacy), [
      [tag(`${legacy}-primary`), 100],
      [tag(`${legacy}-canary`), 0],
    ]);
    await activities.setRoutes(target, routeTo(20));

    await activities.finalize(target, true);
    route = await trafficRoute(legacy);
    assert.equal(route.mesh, "legacy-mesh");
    assert.deepEqual(route.spec, original);
    assert.equal(route.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
  });
});
