/**
 * The SMI routers (smi:v1alpha1, smi:v1alpha2, smi:v1alpha3, and linkerd and osm, which write
 * v1alpha1 and v1alpha2) against the real TrafficSplit and HTTPRouteGroup CRDs, as the operator's
 * service account: initialize creates one owned TrafficSplit in the provider's version and format,
 * each weight step is one request, a second reconcile writes nothing, finalize deletes what it
 * made and gives back what it took over; A/B testing (v1alpha3 only) adds an HTTPRouteGroup; what
 * SMI cannot do is refused before anything is written.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import { routerFor } from "../../activities/routing/registry.ts";
import type { CanarySpec, Provider } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS, type Target } from "../../workflows/activity-port.ts";
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

const namespace = testNamespace("routing-smi");

interface TrafficSplit extends KubeObject {
  metadata: NonNullable<KubeObject["metadata"]>;
  spec: {
    service: string;
    matches?: { kind: string; apiGroup?: string; name: string }[];
    backends: { service: string; weight: number | string }[];
  };
}

interface SmiCase {
  readonly provider: Provider;
  /** The API the provider writes its TrafficSplit through. */
  readonly type: ResourceType;
  /** A weight as that version holds it: a resource quantity (a string) in v1alpha1. */
  readonly weight: (percent: number) => number | string;
}

const quantity = (percent: number) => String(percent);
const integer = (percent: number) => percent;

const cases: readonly SmiCase[] = [
  { provider: "smi:v1alpha1", type: RESOURCES.trafficSplitsV1alpha1, weight: quantity },
  { provider: "smi:v1alpha2", type: RESOURCES.trafficSplitsV1alpha2, weight: integer },
  { provider: "smi:v1alpha3", type: RESOURCES.trafficSplitsV1alpha3, weight: integer },
  // As in Flagger: linkerd writes v1alpha1 (what linkerd-smi reads), osm v1alpha2.
  { provider: "linkerd", type: RESOURCES.trafficSplitsV1alpha1, weight: quantity },
  { provider: "osm", type: RESOURCES.trafficSplitsV1alpha2, weight: integer },
];

/** Service names for a provider: "smi:v1alpha2" → "smi-v1alpha2". */
function appName(provider: Provider, suffix: string): string {
  return `${provider.replace(":", "-")}-${suffix}`;
}

async function canary(
  name: string,
  provider: Provider,
  overrides: Partial<CanarySpec> = {},
): Promise<Target> {
  await createAvailable(deployment(namespace, name, 1));
  return createCanary(namespace, name, canarySpec(name, { provider, revertOnDeletion: true, ...overrides }));
}

async function split(type: ResourceType, name: string): Promise<TrafficSplit> {
  return admin.get<TrafficSplit>(type, namespace, name);
}

function backends(ts: TrafficSplit): [string, number | string][] {
  return ts.spec.backends.map((b) => [b.service, b.weight]);
}

async function canaryUid(name: string): Promise<string | undefined> {
  return (await admin.get(RESOURCES.canaries, namespace, name)).metadata?.uid;
}

/** Must be refused with a non-retryable InvalidSpec whose message matches `message`. */
function refusal(message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, NON_RETRYABLE_ERRORS.invalidSpec);
    assert.match(err.message, message);
    return true;
  };
}

describe("SMI routers: one TrafficSplit in the provider's version", () => {
  for (const c of cases) {
    it(`${c.provider}: canary steps, promotion, a second reconcile writing nothing, finalize`, async () => {
      const name = appName(c.provider, "web");
      const target = await canary(name, c.provider, {
        analysis: { interval: "1s", stepWeight: 20, maxWeight: 60 },
      });
      const { kube, activities } = operatorActivities();
      await activities.initialize(target);

      let ts = await split(c.type, name);
      assert.deepEqual(ts.spec, {
        service: name,
        backends: [
          { service: `${name}-canary`, weight: c.weight(0) },
          { service: `${name}-primary`, weight: c.weight(100) },
        ],
      });
      assert.deepEqual(
        ts.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [["Canary", name, await canaryUid(name), true]],
      );
      assert.ok(
        ts.metadata.managedFields?.some(
          (f) => f.manager !== "test-user" && f.apiVersion === `split.smi-spec.io/${c.type.version}`,
        ),
        `the operator wrote it as ${c.type.version}`,
      );
      assert.equal(
        await admin.find(RESOURCES.httpRouteGroups, namespace, `${name}-ab-testing`),
        undefined,
        "no HTTPRouteGroup without A/B testing",
      );
      assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

      const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(20)));
      assert.deepEqual(step.requests, { "patch trafficsplits": 1 }, "one request per step");
      ts = await split(c.type, name);
      assert.deepEqual(backends(ts), [
        [`${name}-canary`, c.weight(20)],
        [`${name}-primary`, c.weight(80)],
      ]);
      assert.deepEqual(await activities.getRoutes(target), routeTo(20));
      await activities.setRoutes(target, routeTo(60));

      // Promotion reconciles the routing (keeping the weights), then sends everything to the primary.
      await activities.promote(target);
      assert.deepEqual(await activities.getRoutes(target), routeTo(60), "reconcile keeps the weights");
      await activities.setRoutes(target, PRIMARY_ONLY);
      ts = await split(c.type, name);
      assert.deepEqual(backends(ts), [
        [`${name}-canary`, c.weight(0)],
        [`${name}-primary`, c.weight(100)],
      ]);

      const owner = { name, uid: (await canaryUid(name)) ?? "" };
      const context = {
        kube,
        namespace,
        spec: target.spec,
        revision: undefined,
        settings: DEFAULT_WORKLOAD_SETTINGS,
      };
      const again = await kube.counter.measure(() => routerFor(c.provider).reconcile(context, owner));
      assert.deepEqual(again.requests, { "get trafficsplits": 1 }, "only a read: nothing to write");
      assert.equal(
        (await split(c.type, name)).metadata.resourceVersion,
        ts.metadata.resourceVersion,
        "a second reconcile writes nothing",
      );

      await activities.finalize(target, true);
      assert.equal(await admin.find(c.type, namespace, name), undefined, "the TrafficSplit it made is gone");
    });

    it(`${c.provider}: blue/green switches all traffic to the canary and back on rollback`, async () => {
      const name = appName(c.provider, "bg");
      const target = await canary(name, c.provider, { analysis: { interval: "1s", iterations: 2 } });
      const { activities } = operatorActivities();
      await activities.initialize(target);
      await activities.setRoutes(target, routeTo(100));
      let ts = await split(c.type, name);
      assert.equal(ts.spec.matches, undefined);
      assert.deepEqual(backends(ts), [
        [`${name}-canary`, c.weight(100)],
        [`${name}-primary`, c.weight(0)],
      ]);
      assert.deepEqual(await activities.getRoutes(target), routeTo(100));

      await activities.setRoutes(target, PRIMARY_ONLY);
      ts = await split(c.type, name);
      assert.deepEqual(backends(ts), [
        [`${name}-canary`, c.weight(0)],
        [`${name}-primary`, c.weight(100)],
      ]);
      await activities.finalize(target, true);
      assert.equal(await admin.find(c.type, namespace, name), undefined);
    });
  }
});

describe("smi:v1alpha3 A/B testing", () => {
  it("an owned HTTPRouteGroup holds analysis.match; the TrafficSplit's matches name it", async () => {
    const name = "ab";
    const target = await canary(name, "smi:v1alpha3", {
      analysis: {
        interval: "1s",
        iterations: 3,
        match: [
          { headers: { "x-canary": { exact: "insider" } } },
          { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
          { headers: [{ name: "x-beta", value: "a.b" }], uri: { prefix: "/api" }, method: "get" },
          { headers: { "user-agent": { suffix: "Firefox" } }, path: { type: "Exact", value: "/" } },
        ],
      },
    });
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    const group = await admin.get(RESOURCES.httpRouteGroups, namespace, `${name}-ab-testing`);
    assert.equal(group.metadata?.ownerReferences?.[0]?.uid, await canaryUid(name));
    assert.deepEqual(group.spec, {
      matches: [
        { name: "match-0", headers: { "x-canary": "^insider$" } },
        { name: "match-1", headers: { cookie: "^(.*?;)?(canary=always)(;.*)?$" } },
        { name: "match-2", pathRegex: "^/api.*", methods: ["GET"], headers: { "x-beta": "^a\\.b$" } },
        { name: "match-3", pathRegex: "^/$", headers: { "user-agent": ".*Firefox$" } },
      ],
    });
    let ts = await split(RESOURCES.trafficSplitsV1alpha3, name);
    assert.deepEqual(ts.spec.matches, [
      { kind: "HTTPRouteGroup", apiGroup: "specs.smi-spec.io", name: `${name}-ab-testing` },
    ]);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    // Matching requests to the canary; the rest reach the root Service, which selects the primary.
    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
    assert.deepEqual(step.requests, { "patch trafficsplits": 1 });
    ts = await split(RESOURCES.trafficSplitsV1alpha3, name);
    assert.deepEqual(backends(ts), [
      [`${name}-canary`, 100],
      [`${name}-primary`, 0],
    ]);
    assert.equal(ts.spec.matches?.length, 1, "the step keeps the matches");
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    await activities.finalize(target, true);
    assert.equal(await admin.find(RESOURCES.trafficSplitsV1alpha3, namespace, name), undefined);
    assert.equal(await admin.find(RESOURCES.httpRouteGroups, namespace, `${name}-ab-testing`), undefined);
  });
});

describe("SMI refusals", () => {
  interface Refused {
    readonly name: string;
    readonly provider: Provider;
    readonly analysis: CanarySpec["analysis"];
    readonly message: RegExp;
  }
  const ab = { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "insider" } } }] };
  const noMatches = (["smi:v1alpha1", "smi:v1alpha2", "linkerd", "osm"] as const).map(
    (provider): Refused => ({
      name: appName(provider, "ab"),
      provider,
      analysis: ab,
      message: new RegExp(
        `^analysis\\.match \\(A/B testing\\) is not supported by the ${provider} provider: TrafficSplit v1alpha[12] has no matches; .*use smi:v1alpha3`,
      ),
    }),
  );
  const refused: readonly Refused[] = [
    ...noMatches,
    {
      name: "mirrored",
      provider: "smi:v1alpha3",
      analysis: { interval: "1s", stepWeight: 20, mirror: true },
      message:
        /^analysis\.mirror is not supported by the smi:v1alpha3 provider: SMI has no traffic mirroring; remove it$/,
    },
    {
      name: "sticky",
      provider: "linkerd",
      analysis: { interval: "1s", stepWeight: 20, sessionAffinity: { cookieName: "canary" } },
      message:
        /^analysis\.sessionAffinity is not supported by the linkerd provider: a TrafficSplit cannot set cookies; remove it$/,
    },
    {
      name: "by-query",
      provider: "smi:v1alpha3",
      analysis: { ...ab, match: [{ queryParams: { beta: { exact: "1" } } }] },
      message:
        /^analysis\.match\[0\]\.queryParams is not supported by the smi:v1alpha3 provider: an HTTPRouteGroup matches headers, uri and method only$/,
    },
  ];
  for (const { name, provider, analysis, message } of refused) {
    it(`${name} (${provider}): refused on initialize, nothing written`, async () => {
      const target = await canary(name, provider, { analysis });
      const { activities } = operatorActivities();
      await assert.rejects(activities.initialize(target), refusal(message));
      // Every version reads the same stored object: one look covers all of them.
      assert.equal(await admin.find(RESOURCES.trafficSplitsV1alpha3, namespace, name), undefined);
      assert.equal(await admin.find(RESOURCES.httpRouteGroups, namespace, `${name}-ab-testing`), undefined);
    });
  }
});

describe("a TrafficSplit the user had", () => {
  it("is taken over (root service from service.hosts) and given back on finalize", async () => {
    const name = "legacy";
    const original = { service: name, backends: [{ service: "legacy-v1", weight: 100 }] };
    await admin.create(RESOURCES.trafficSplitsV1alpha2, namespace, { metadata: { name }, spec: original });
    const target = await canary(name, "osm", {
      service: { port: 80, targetPort: 8080, hosts: ["legacy.mesh"] },
    });
    const { activities } = operatorActivities();
    await activities.initialize(target);
    let ts = await split(RESOURCES.trafficSplitsV1alpha2, name);
    assert.ok(ts.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "the original is recorded");
    assert.equal(ts.metadata.ownerReferences, undefined, "taken over, not owned");
    assert.equal(ts.spec.service, "legacy.mesh");
    assert.deepEqual(backends(ts), [
      ["legacy-canary", 0],
      ["legacy-primary", 100],
    ]);
    await activities.setRoutes(target, routeTo(40));

    await activities.finalize(target, true);
    ts = await split(RESOURCES.trafficSplitsV1alpha2, name);
    assert.equal(ts.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    assert.deepEqual(ts.spec, original);
  });
});
