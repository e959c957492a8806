/**
 * The Contour router against the real HTTPProxy CRD, as the operator's service account: the one
 * HTTPProxy Flagger creates (owned by the Canary), weight steps and mirroring at one request
 * each, A/B routes in front of the split, blue/green, all traffic back on the primary after
 * promotion or rollback, a reconcile with nothing changed writing nothing, an HTTPProxy the user
 * had given back on finalize, and refusals that name the field to fix.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contourRouter } from "../../activities/routing/contour.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
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
import { expectRefusals } from "./routing-refusals.ts";

const namespace = testNamespace("routing-contour");

interface ProxyService {
  name: string;
  port: number;
  weight?: number;
  mirror?: boolean;
  requestHeadersPolicy?: unknown;
}

interface HttpProxy {
  metadata: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    resourceVersion?: string;
  };
  spec: {
    virtualhost?: { fqdn: string };
    routes: {
      conditions?: Record<string, unknown>[];
      services: ProxyService[];
      [key: string]: unknown;
    }[];
  };
}

async function proxy(name: string): Promise<HttpProxy> {
  return admin.get<HttpProxy>(RESOURCES.httpProxies, namespace, name);
}

/** [name, weight, mirror] of each service of each route. */
async function weights(name: string): Promise<[string, number | undefined, boolean][][]> {
  return (await proxy(name)).spec.routes.map((route) =>
    route.services.map((s) => [s.name, s.weight, s.mirror === true]),
  );
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

function contourSpec(target: string, overrides: Partial<CanarySpec> = {}): CanarySpec {
  return canarySpec(target, { provider: "contour", ...overrides });
}

/** What Flagger sets on each backend so Linkerd, behind Contour, keeps the Service Contour chose. */
function linkerdOverride(service: string, port: number) {
  return { set: [{ name: "l5d-dst-override", value: `${service}.${namespace}.svc.cluster.local:${port}` }] };
}

let webTarget: Target | undefined;

describe("contour router", () => {
  it("creates the one owned HTTPProxy Flagger creates; steps and mirroring are one request; a reconcile with nothing changed writes nothing", async () => {
    await workload("web");
    const target = await createCanary(
      namespace,
      "web",
      contourSpec("web", {
        service: {
          port: 9898,
          targetPort: 8080,
          timeout: "15s",
          retries: { attempts: 3, perTryTimeout: "5s", retryOn: "5xx, gateway-error,503" },
          match: [{ uri: { prefix: "/api" } }],
          apex: { labels: { team: "web" }, annotations: { "projectcontour.io/ingress.class": "internal" } },
        },
        analysis: { interval: "1s", stepWeight: 20, maxWeight: 60, mirror: true, mirrorWeight: 50 },
      }),
    );
    webTarget = target;
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    const proxies = await admin.list<HttpProxy & { metadata: { name: string } }>(
      RESOURCES.httpProxies,
      namespace,
    );
    assert.deepEqual(
      proxies.items.map((p) => p.metadata.name),
      ["web"],
      "one HTTPProxy, named after the apex Service",
    );
    const canary = await admin.get<{ metadata: { uid: string } }>(RESOURCES.canaries, namespace, "web");
    let web = await proxy("web");
    assert.deepEqual(
      web.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [["Canary", "web", canary.metadata.uid, true]],
    );
    assert.equal(web.metadata.labels?.team, "web");
    assert.equal(web.metadata.annotations?.["projectcontour.io/ingress.class"], "internal");
    assert.deepEqual(web.spec, {
      routes: [
        {
          conditions: [{ prefix: "/api" }],
          timeoutPolicy: { response: "15s", idle: "5m" },
          retryPolicy: {
            count: 3,
            perTryTimeout: "5s",
            retryOn: ["5xx", "gateway-error", "retriable-status-codes"],
            retriableStatusCodes: [503],
          },
          services: [
            {
              name: "web-primary",
              port: 9898,
              weight: 100,
              requestHeadersPolicy: linkerdOverride("web-primary", 9898),
            },
            {
              name: "web-canary",
              port: 9898,
              weight: 0,
              requestHeadersPolicy: linkerdOverride("web-canary", 9898),
            },
          ],
        },
      ],
    });
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    const mirror = await kube.counter.measure(() => activities.setRoutes(target, routeTo(0, true)));
    assert.deepEqual(mirror.requests, { "patch httpproxies": 1 }, "one request for the mirror step");
    assert.deepEqual(await activities.getRoutes(target), routeTo(0, true));
    assert.deepEqual((await proxy("web")).spec.routes[0]?.services[2], {
      name: "web-canary",
      port: 9898,
      mirror: true,
      weight: 50,
      requestHeadersPolicy: linkerdOverride("web-canary", 9898),
    });

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(40)));
    assert.deepEqual(step.requests, { "patch httpproxies": 1 }, "one request per step");
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    assert.deepEqual(await weights("web"), [
      [
        ["web-primary", 60, false],
        ["web-canary", 40, false],
      ],
    ]);

    // Promotion reconciles the routing again: with nothing changed, the HTTPProxy is not written.
    web = await proxy("web");
    const promote = await kube.counter.measure(() => activities.promote(target));
    const proxyRequests = Object.entries(promote.requests).filter(([request]) =>
      request.endsWith(" httpproxies"),
    );
    // Compared first: nothing to change, no request to change it.
    assert.deepEqual(proxyRequests, [["get httpproxies", 1]]);
    const after = await proxy("web");
    assert.equal(after.metadata.resourceVersion, web.metadata.resourceVersion, "nothing written");
    assert.deepEqual(await activities.getRoutes(target), routeTo(40), "the split stays until routed");

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    assert.deepEqual(await weights("web"), [
      [
        ["web-primary", 100, false],
        ["web-canary", 0, false],
      ],
    ]);
  });

  it("A/B testing: one route per header, cookie or query condition in front of the primary's route", async () => {
    await workload("shop");
    const target = await createCanary(
      namespace,
      "shop",
      contourSpec("shop", {
        analysis: {
          interval: "1s",
          iterations: 2,
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            // As in Flagger: a suffix (or prefix) only has to occur in the header.
            { headers: { cookie: { suffix: "canary=always" } } },
            { headers: { "user-agent": { regex: ".*Android.*" } }, queryParams: { beta: { prefix: "1" } } },
            { uri: { exact: "/beta" }, headers: [{ name: "x-beta", value: "yes" }] },
          ],
        },
      }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
    assert.deepEqual(step.requests, { "patch httpproxies": 1 });
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));

    const shop = await proxy("shop");
    assert.deepEqual(
      shop.spec.routes.map((r) => r.conditions),
      [
        [{ prefix: "/" }, { header: { name: "x-canary", exact: "insider" } }],
        [{ prefix: "/" }, { header: { name: "cookie", contains: "canary=always" } }],
        [
          { prefix: "/" },
          { header: { name: "user-agent", regex: ".*Android.*" } },
          { queryParameter: { name: "beta", prefix: "1" } },
        ],
        [{ exact: "/beta" }, { header: { name: "x-beta", exact: "yes" } }],
        [{ prefix: "/" }],
      ],
    );
    assert.deepEqual(await weights("shop"), [
      ...Array.from({ length: 4 }, () => [
        ["shop-primary", 0, false],
        ["shop-canary", 100, false],
      ]),
      [
        ["shop-primary", 100, false],
        ["shop-canary", 0, false],
      ],
    ]);

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY, "rolled back: all on the primary");
    assert.ok(
      (await weights("shop")).every((route) => route[0]?.[1] === 100 && route[1]?.[1] === 0),
      "no condition still sends anyone to the canary",
    );
  });

  it("blue/green switches the whole route to the canary and back", async () => {
    await workload("blue");
    const target = await createCanary(
      namespace,
      "blue",
      contourSpec("blue", { analysis: { interval: "1s", iterations: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await weights("blue"), [
      [
        ["blue-primary", 0, false],
        ["blue-canary", 100, false],
      ],
    ]);
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
  });

  it("refuses what Contour cannot route, naming the field, before writing anything", async () => {
    const cases: [string, Partial<CanarySpec>, RegExp][] = [
      [
        "method",
        { analysis: { interval: "1s", iterations: 2, match: [{ method: "POST" }] } },
        /^analysis\.match\[0\]\.method is not supported by the contour provider: use uri \(or path\), headers and queryParams$/,
      ],
      [
        "retry",
        { service: { port: 80, retries: { attempts: 2, retryOn: "5xx,sometimes" } } },
        /^service\.retries\.retryOn: sometimes is not a retry condition Contour knows: use HTTP status codes and 5xx, /,
      ],
      [
        "path",
        { service: { port: 80, match: [{ uri: { prefix: "api" } }] } },
        /^service\.match\[0\]\.uri must start with "\/" for the contour provider, got "api"$/,
      ],
      [
        "sticky",
        { analysis: { interval: "1s", stepWeight: 10, sessionAffinity: { cookieName: "sticky" } } },
        /^analysis\.sessionAffinity is not supported by the contour provider: remove it/,
      ],
      [
        "mirror0",
        { analysis: { interval: "1s", stepWeight: 10, mirror: true, mirrorWeight: 0 } },
        /^analysis\.mirrorWeight 0 would mirror every request/,
      ],
    ];
    await expectRefusals(
      contourRouter,
      namespace,
      cases.map(([name, overrides, message]) => [name, contourSpec(name, overrides), message]),
      { "get httpproxies": 1 },
    );
  });

  it("gives back an HTTPProxy the user had and deletes the one it created", async () => {
    await workload("legacy");
    const original = {
      virtualhost: { fqdn: "legacy.example.test" },
      routes: [{ services: [{ name: "legacy", port: 80 }] }],
    };
    await admin.create(RESOURCES.httpProxies, namespace, { metadata: { name: "legacy" }, spec: original });
    const target = await createCanary(namespace, "legacy", contourSpec("legacy", { revertOnDeletion: true }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    let legacy = await proxy("legacy");
    assert.ok(legacy.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "the original is recorded");
    assert.equal(legacy.metadata.ownerReferences, undefined, "taken over, not owned");
    assert.deepEqual(legacy.spec.virtualhost, original.virtualhost, "the user's virtual host stays");
    assert.deepEqual(await weights("legacy"), [
      [
        ["legacy-primary", 100, false],
        ["legacy-canary", 0, false],
      ],
    ]);
    await activities.setRoutes(target, routeTo(20));

    await activities.finalize(target, true);
    legacy = await proxy("legacy");
    assert.deepEqual(legacy.spec, original);
    assert.equal(legacy.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);

    assert.ok(webTarget, "the first test initialized web");
    await activities.finalize(webTarget, true);
    assert.equal(
      await admin.find(RESOURCES.httpProxies, namespace, "web"),
      undefined,
      "the one it made is gone",
    );
  });
});
