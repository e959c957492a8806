/**
 * The Traefik router against the real TraefikService CRD, as the operator's service account: the
 * one weighted TraefikService Flagger creates (owned by the Canary, the canary left out at weight
 * 0), a weight step at one request, blue/green, all traffic back on the primary after promotion
 * or rollback, a reconcile with nothing changed writing nothing, a TraefikService the user had
 * given back on finalize, and A/B testing and mirroring refused with the field to fix.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { traefikRouter } from "../../activities/routing/traefik.ts";
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

const namespace = testNamespace("routing-traefik");

interface TraefikService {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    resourceVersion?: string;
  };
  spec: Record<string, unknown>;
}

async function traefikService(name: string): Promise<TraefikService> {
  return admin.get<TraefikService>(RESOURCES.traefikServices, namespace, name);
}

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

function traefikSpec(target: string, overrides: Partial<CanarySpec> = {}): CanarySpec {
  return canarySpec(target, { provider: "traefik", ...overrides });
}

/** A weighted TraefikService's spec, as Flagger writes it: Services in the Canary's namespace. */
function weighted(...services: [string, number][]) {
  return {
    weighted: { services: services.map(([name, weight]) => ({ name, namespace, port: 80, weight })) },
  };
}

let webTarget: Target | undefined;

describe("traefik router", () => {
  it("creates the one owned TraefikService Flagger creates; a step is one request; a reconcile with nothing changed writes nothing", async () => {
    await workload("web");
    const target = await createCanary(
      namespace,
      "web",
      traefikSpec("web", {
        service: {
          port: 80,
          targetPort: 8080,
          apex: { labels: { team: "web" }, annotations: { note: "edge" } },
        },
        analysis: { interval: "1s", stepWeight: 20, maxWeight: 60 },
      }),
    );
    webTarget = target;
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    const services = await admin.list<TraefikService>(RESOURCES.traefikServices, namespace);
    assert.deepEqual(
      services.items.map((s) => s.metadata.name),
      ["web"],
      "one TraefikService, named after the apex Service",
    );
    const canary = await admin.get<{ metadata: { uid: string } }>(RESOURCES.canaries, namespace, "web");
    let web = await traefikService("web");
    assert.deepEqual(
      web.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [["Canary", "web", canary.metadata.uid, true]],
    );
    assert.equal(web.metadata.labels?.team, "web");
    assert.equal(web.metadata.annotations?.note, "edge");
    assert.deepEqual(web.spec, weighted(["web-primary", 100]), "the canary, scaled to zero, is left out");
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(40)));
    assert.deepEqual(step.requests, { "patch traefikservices": 1 }, "one request per step");
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    assert.deepEqual((await traefikService("web")).spec, weighted(["web-primary", 60], ["web-canary", 40]));

    // Promotion reconciles the routing again: with nothing changed, the TraefikService is not written.
    web = await traefikService("web");
    const promote = await kube.counter.measure(() => activities.promote(target));
    assert.deepEqual(
      Object.entries(promote.requests).filter(([request]) => request.endsWith(" traefikservices")),
      [["get traefikservices", 1]],
      "compared first: nothing to change, no request to change it",
    );
    const after = await traefikService("web");
    assert.equal(after.metadata.resourceVersion, web.metadata.resourceVersion, "nothing written");
    assert.deepEqual(await activities.getRoutes(target), routeTo(40), "the split stays until routed");

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    assert.deepEqual((await traefikService("web")).spec, weighted(["web-primary", 100]));
  });

  it("blue/green switches all traffic to the canary and back", async () => {
    await workload("blue");
    const target = await createCanary(
      namespace,
      "blue",
      traefikSpec("blue", { analysis: { interval: "1s", iterations: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));
    assert.deepEqual(
      (await traefikService("blue")).spec,
      weighted(["blue-primary", 0], ["blue-canary", 100]),
    );
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual((await traefikService("blue")).spec, weighted(["blue-primary", 100]));
  });

  it("refuses A/B testing, mirroring and session affinity, naming the field, before writing anything", async () => {
    const cases: [string, Partial<CanarySpec>, RegExp][] = [
      [
        "ab",
        { analysis: { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "1" } } }] } },
        /^analysis\.match \(A\/B testing\) is not supported by the traefik provider, whose TraefikService only splits by weight: remove analysis\.match/,
      ],
      [
        "mirror",
        { analysis: { interval: "1s", iterations: 2, mirror: true } },
        /^analysis\.mirror is not supported by the traefik provider, whose TraefikService only splits by weight: remove analysis\.mirror, or use the contour, istio or gatewayapi:v1 provider$/,
      ],
      [
        "sticky",
        { analysis: { interval: "1s", stepWeight: 10, sessionAffinity: { cookieName: "sticky" } } },
        /^analysis\.sessionAffinity is not supported by the traefik provider: remove it/,
      ],
    ];
    await expectRefusals(
      traefikRouter,
      namespace,
      cases.map(([name, overrides, message]) => [name, traefikSpec(name, overrides), message]),
      { "get traefikservices": 1 },
    );
  });

  it("gives back a TraefikService the user had and deletes the one it created", async () => {
    await workload("legacy");
    const original = { weighted: { services: [{ name: "legacy", port: 80 }] } };
    await admin.create(RESOURCES.traefikServices, namespace, {
      metadata: { name: "legacy" },
      spec: original,
    });
    const target = await createCanary(namespace, "legacy", traefikSpec("legacy", { revertOnDeletion: true }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    let legacy = await traefikService("legacy");
    assert.ok(legacy.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], "the original is recorded");
    assert.equal(legacy.metadata.ownerReferences, undefined, "taken over, not owned");
    assert.deepEqual(legacy.spec, weighted(["legacy-primary", 100]));
    await activities.setRoutes(target, routeTo(20));
    assert.deepEqual(
      (await traefikService("legacy")).spec,
      weighted(["legacy-primary", 80], ["legacy-canary", 20]),
    );

    await activities.finalize(target, true);
    legacy = await traefikService("legacy");
    assert.deepEqual(legacy.spec, original);
    assert.equal(legacy.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);

    assert.ok(webTarget, "the first test initialized web");
    await activities.finalize(webTarget, true);
    assert.equal(
      await admin.find(RESOURCES.traefikServices, namespace, "web"),
      undefined,
      "the one it made is gone",
    );
  });
});
