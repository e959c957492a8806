/**
 * Services from spec.service (ports, appProtocol, headless, port discovery, custom metadata), an
 * apex Service the user had before, and deletion with revertOnDeletion: the target scaled back
 * and ready, the apex selecting it again, the finalizer removed, the generated objects collected.
 * finalize is best-effort: a target, apex Service or route already gone is nothing to revert, and
 * a target that never becomes ready is waited for a bounded time, then the routes go back anyway.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment, V1Service } from "@kubernetes/client-node";
import { CANARY_FINALIZER, ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES, type ResourceType } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { neverReadyLabel } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isAvailable,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("services");

async function service(name: string): Promise<V1Service> {
  return admin.get<V1Service>(RESOURCES.services, namespace, name);
}

describe("services", () => {
  it("builds the three Services from spec.service", async () => {
    const api = deployment(namespace, "api", 1);
    const container = api.spec?.template.spec?.containers[0];
    if (container) {
      container.ports = [
        { name: "grpc", containerPort: 9000 },
        { name: "metrics", containerPort: 9090 },
      ];
    }
    api.spec?.template.spec?.containers.push({
      name: "istio-proxy",
      image: "proxy",
      ports: [{ name: "http-envoy-prom", containerPort: 15090 }],
    });
    await createAvailable(api);
    const target = await createCanary(
      namespace,
      "api",
      canarySpec("api", {
        service: {
          name: "api-svc",
          port: 9000,
          portName: "grpc",
          targetPort: "grpc",
          appProtocol: "grpc",
          portDiscovery: true,
          headless: true,
          apex: { labels: { tier: "edge" }, annotations: { "example.test/apex": "yes" } },
          primary: { labels: { role: "stable" } },
          canary: { annotations: { "example.test/canary": "yes" } },
        },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);

    const apex = await service("api-svc");
    assert.deepEqual(apex.spec?.selector, { app: "api-primary" });
    assert.equal(apex.spec?.clusterIP, "None");
    assert.deepEqual(
      apex.spec?.ports?.map((p) => [p.name, p.port, p.targetPort, p.appProtocol]),
      [
        ["grpc", 9000, "grpc", "grpc"],
        ["metrics", 9090, 9090, undefined],
      ],
      "the main port, then discovered ones without the sidecar's",
    );
    assert.deepEqual(apex.metadata?.labels, { tier: "edge", app: "api-svc" });
    assert.equal(apex.metadata?.annotations?.["example.test/apex"], "yes");
    assert.equal((await service("api-svc-primary")).metadata?.labels?.role, "stable");
    assert.equal((await service("api-svc-canary")).metadata?.annotations?.["example.test/canary"], "yes");
    assert.deepEqual((await service("api-svc-canary")).spec?.selector, { app: "api" });
  });

  it("takes over an apex Service the user had; on deletion with revert, the target gets its traffic back", async () => {
    await createAvailable(deployment(namespace, "web", 2));
    await admin.create(RESOURCES.services, namespace, {
      metadata: { name: "web", labels: { owner: "user" } },
      spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    });
    const target = await createCanary(namespace, "web", canarySpec("web", { revertOnDeletion: true }));
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    let apex = await service("web");
    assert.deepEqual(apex.spec?.selector, { app: "web-primary" });
    assert.ok(apex.metadata?.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION]);
    assert.equal(
      apex.metadata?.ownerReferences,
      undefined,
      "a Service the user made is never owned by the Canary",
    );
    const canary = await admin.get(RESOURCES.canaries, namespace, "web");
    assert.deepEqual(canary.metadata?.finalizers, [CANARY_FINALIZER], "revertOnDeletion adds the finalizer");
    assert.equal((await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web")).spec?.replicas, 0);

    // The user deletes the Canary: the finalizer holds it until finalize has reverted everything.
    await admin.delete(RESOURCES.canaries, namespace, "web");
    const finalized = await kube.counter.measure(() => activities.finalize(target, true));
    console.log(
      `finalize with revert: ${finalized.total} API requests ${JSON.stringify(finalized.requests)}`,
    );

    const web = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web");
    assert.equal(web.spec?.replicas, 2, "the target has the primary's replicas back");
    assert.ok(isAvailable(web), "and is ready before traffic moves");
    apex = await service("web");
    assert.deepEqual(apex.spec?.selector, { app: "web" });
    assert.equal(apex.metadata?.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    assert.equal(apex.metadata?.labels?.owner, "user");

    await waitFor(
      "the Canary and what it owned to be gone",
      async () => {
        const gone = await Promise.all([
          admin.find(RESOURCES.canaries, namespace, "web"),
          admin.find(RESOURCES.deployments, namespace, "web-primary"),
          admin.find(RESOURCES.services, namespace, "web-primary"),
          admin.find(RESOURCES.services, namespace, "web-canary"),
          admin.find(RESOURCES.httpRoutes, namespace, "web"),
        ]);
        return gone.every((o) => o === undefined) ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.ok(await admin.find(RESOURCES.services, namespace, "web"), "the apex Service stays");

    // Finalizing again (a retry) finds nothing left to do.
    await activities.finalize(target, true);
  });

  it("an apex the operator created is pointed at the target and released on revert", async () => {
    await createAvailable(deployment(namespace, "shop", 1));
    const target = await createCanary(namespace, "shop", canarySpec("shop", { revertOnDeletion: true }));
    const { activities } = operatorActivities();
    await activities.initialize(target);
    assert.equal((await service("shop")).metadata?.ownerReferences?.[0]?.kind, "Canary");

    await admin.delete(RESOURCES.canaries, namespace, "shop");
    await activities.finalize(target, true);
    const apex = await service("shop");
    assert.deepEqual(apex.spec?.selector, { app: "shop" });
    assert.deepEqual(apex.metadata?.ownerReferences ?? [], [], "released, so it outlives the Canary");
    await waitFor(
      "the Canary to be gone",
      async () => ((await admin.find(RESOURCES.canaries, namespace, "shop")) ? undefined : true),
      { timeoutMs: 30_000 },
    );
  });
});

/** A Canary with revertOnDeletion, initialized, then deleted: its finalizer holds it for finalize. */
async function deletedCanary(
  name: string,
  overrides: Parameters<typeof canarySpec>[1] = {},
): Promise<Target> {
  await createAvailable(deployment(namespace, name, 1));
  const target = await createCanary(
    namespace,
    name,
    canarySpec(name, { revertOnDeletion: true, ...overrides }),
  );
  await operatorActivities().activities.initialize(target);
  await admin.delete(RESOURCES.canaries, namespace, name);
  return target;
}

/** finalize completes, and the Canary (held only by the finalizer) goes away. */
async function finalizes(target: Target): Promise<void> {
  await operatorActivities().activities.finalize(target, true);
  await waitFor(
    `Canary ${target.ref.name} to be gone`,
    async () => ((await admin.find(RESOURCES.canaries, namespace, target.ref.name)) ? undefined : true),
    { timeoutMs: 30_000 },
  );
}

describe("finalize is best-effort", () => {
  for (const [what, object] of [
    ["the target", (name: string) => [RESOURCES.deployments, name]],
    ["the apex Service", (name: string) => [RESOURCES.services, name]],
    ["the HTTPRoute", (name: string) => [RESOURCES.httpRoutes, name]],
  ] as const) {
    it(`completes with ${what} deleted`, async () => {
      const name = `gone-${what.split(" ").at(-1)?.toLowerCase()}`;
      const target = await deletedCanary(name);
      const [type, objectName] = object(name) as [ResourceType, string];
      await admin.delete(type, namespace, objectName);
      await waitFor(
        `${objectName} to be deleted`,
        async () => ((await admin.find(type, namespace, objectName)) ? undefined : true),
        { timeoutMs: 30_000 },
      );
      await finalizes(target);
    });
  }

  it("completes with the VirtualService deleted", async () => {
    const target = await deletedCanary("gone-vs", { provider: "istio" });
    await admin.delete(RESOURCES.virtualServices, namespace, "gone-vs");
    await finalizes(target);
    assert.equal(await admin.find(RESOURCES.destinationRules, namespace, "gone-vs-primary"), undefined);
  });

  it("waits a bounded time for a target that never becomes ready, then gives the traffic back", async () => {
    const target = await deletedCanary("never", { progressDeadlineSeconds: 2 });
    await admin.mergePatch(RESOURCES.deployments, namespace, "never", {
      spec: { template: { metadata: { labels: { [neverReadyLabel]: "true" } } } },
    });
    const started = performance.now();
    await finalizes(target);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 20_000, `finalize took ${Math.round(tookMs)} ms`);
    assert.deepEqual(
      (await service("never")).spec?.selector,
      { app: "never" },
      "the apex selects the target",
    );
    const events = await admin.list<{ reason?: string; type?: string; message?: string }>(
      RESOURCES.events,
      namespace,
      { fieldSelector: "involvedObject.name=never" },
    );
    const warning = events.items.find((e) => e.reason === "Finalizing");
    assert.equal(warning?.type, "Warning");
    assert.match(
      warning?.message ?? "",
      // Which one depends on whether the deployment controller has rolled the template yet.
      /not ready after 2s: Deployment .*\/never: 0 of 1 replicas (available|run the new template)/,
    );
  });
});
