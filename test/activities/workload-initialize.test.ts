/**
 * initialize on a Deployment target, run as the operator's service account against the real API
 * server, controllers and kwok: it creates the primary (with config copies), the services and
 * the HTTPRoute, and scales the target to zero only once the primary is available. Run again, it
 * changes nothing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ConfigMap, V1Deployment, V1Secret, V1Service } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import { waitFor } from "../harness/process.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isAvailable,
  isSettled,
  operatorActivities,
  testNamespace,
  waitForDeployment,
} from "./kube-support.ts";

const namespace = testNamespace("workload-init");

describe("initialize (Deployment, Gateway API)", () => {
  it("creates primary, config copies, services and routes, then scales the target to zero", async () => {
    await admin.create(RESOURCES.configMaps, namespace, {
      metadata: { name: "web-config" },
      data: { level: "info" },
    });
    await admin.create(RESOURCES.secrets, namespace, {
      metadata: { name: "web-secret" },
      stringData: { token: "s3cr3t" },
    });
    await admin.create(RESOURCES.configMaps, namespace, {
      metadata: { name: "shared", annotations: { "flagger.app/config-tracking": "disabled" } },
      data: { a: "b" },
    });
    const web = deployment(namespace, "web", 2, {
      extra: {
        volumes: [
          { name: "secret", secret: { secretName: "web-secret" } },
          { name: "shared", configMap: { name: "shared" } },
          { name: "maybe", configMap: { name: "not-there", optional: true } },
        ],
      },
    });
    const container = web.spec?.template.spec?.containers[0];
    if (container)
      container.env = [
        { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "web-config", key: "level" } } },
      ];
    await createAvailable(web);
    const target = await createCanary(namespace, "web", canarySpec("web"));

    // Follow both Deployments in the order the API server records their changes.
    const seen: { name: string; replicas: number; available: number }[] = [];
    const stop = new AbortController();
    const watching = admin.watch<V1Deployment>(
      RESOURCES.deployments,
      namespace,
      {},
      (type, d) => {
        if (type !== "ADDED" && type !== "MODIFIED") return;
        seen.push({
          name: d.metadata?.name ?? "",
          replicas: d.spec?.replicas ?? 0,
          available: d.status?.availableReplicas ?? 0,
        });
      },
      stop.signal,
    );

    const { kube, activities } = operatorActivities();
    const first = await kube.counter.measure(() => activities.initialize(target));
    console.log(`initialize: ${first.total} API requests ${JSON.stringify(first.requests)}`);
    // The watch delivers what happened before initialize returned; give it a moment to arrive.
    await waitFor(
      "the watch to see the target scaled down",
      async () => (seen.some((e) => e.name === "web" && e.replicas === 0) ? true : undefined),
      { timeoutMs: 10_000 },
    );
    stop.abort();
    await watching;

    const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web-primary");
    assert.deepEqual(primary.spec?.selector?.matchLabels, { app: "web-primary" });
    assert.equal(primary.spec?.template.metadata?.labels?.app, "web-primary");
    assert.equal(primary.spec?.template.metadata?.annotations?.["example.test/owner"], "team-a");
    assert.match(
      primary.spec?.template.metadata?.annotations?.["durable-canary.io/revision"] ?? "",
      /^[0-9a-f]{16}$/,
    );
    assert.equal(primary.spec?.replicas, 2);
    assert.deepEqual(
      primary.metadata?.labels,
      { app: "web-primary" },
      "workload labels are copied only by prefix",
    );
    assert.equal(primary.metadata?.annotations?.["example.test/docs"], "https://docs.example.test");
    assert.equal(primary.metadata?.annotations?.["kustomize.toolkit.fluxcd.io/checksum"], undefined);
    const owner = primary.metadata?.ownerReferences?.[0];
    assert.equal(owner?.kind, "Canary");
    assert.equal(owner?.controller, true);

    const podSpec = primary.spec?.template.spec;
    assert.equal(podSpec?.containers[0]?.env?.[0]?.valueFrom?.configMapKeyRef?.name, "web-config-primary");
    assert.equal(
      podSpec?.volumes?.find((v) => v.name === "secret")?.secret?.secretName,
      "web-secret-primary",
    );
    assert.equal(
      podSpec?.volumes?.find((v) => v.name === "shared")?.configMap?.name,
      "shared",
      "opted out: shared",
    );
    assert.equal(podSpec?.volumes?.find((v) => v.name === "maybe")?.configMap?.name, "not-there");
    const configCopy = await admin.get<V1ConfigMap>(RESOURCES.configMaps, namespace, "web-config-primary");
    assert.deepEqual(configCopy.data, { level: "info" });
    const secretCopy = await admin.get<V1Secret>(RESOURCES.secrets, namespace, "web-secret-primary");
    assert.equal(Buffer.from(secretCopy.data?.token ?? "", "base64").toString(), "s3cr3t");
    assert.equal(await admin.find(RESOURCES.configMaps, namespace, "shared-primary"), undefined);

    for (const [name, selector] of [
      ["web", "web-primary"],
      ["web-primary", "web-primary"],
      ["web-canary", "web"],
    ] as const) {
      const service = await admin.get<V1Service>(RESOURCES.services, namespace, name);
      assert.deepEqual(service.spec?.selector, { app: selector }, `${name} selects ${selector}`);
      assert.deepEqual(
        service.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
        [["http", 80, 8080]],
      );
      assert.equal(service.spec?.type, "ClusterIP");
    }

    assert.deepEqual(await activities.getRoutes(target), {
      primaryWeight: 100,
      canaryWeight: 0,
      mirror: false,
    });

    const finalTarget = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web");
    assert.equal(finalTarget.spec?.replicas, 0);
    assert.ok(isAvailable(await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web-primary")));
    const scaledAt = seen.findIndex((e) => e.name === "web" && e.replicas === 0);
    const primaryAvailableAt = seen.findIndex((e) => e.name === "web-primary" && e.available === 2);
    assert.ok(scaledAt > 0, "the target was scaled to zero");
    assert.ok(
      primaryAvailableAt >= 0 && primaryAvailableAt < scaledAt,
      `the primary was available before the target was scaled down: ${JSON.stringify(seen)}`,
    );

    const canary = await admin.get<{ status?: { trackedConfigs?: Record<string, string> } }>(
      RESOURCES.canaries,
      namespace,
      "web",
    );
    assert.deepEqual(Object.keys(canary.status?.trackedConfigs ?? {}).sort(), [
      "ConfigMap/web-config",
      "Secret/web-secret",
    ]);

    // Idempotent: a second run (a retry after a crash) changes nothing.
    const versions = async () =>
      Promise.all([
        admin.get(RESOURCES.deployments, namespace, "web-primary"),
        admin.get(RESOURCES.deployments, namespace, "web"),
        admin.get(RESOURCES.services, namespace, "web"),
        admin.get(RESOURCES.httpRoutes, namespace, "web"),
        admin.get(RESOURCES.configMaps, namespace, "web-config-primary"),
      ]).then((objects) => objects.map((o) => o.metadata?.resourceVersion));
    // The deployment controller is still recording the scale-down in the target's status; wait for it
    // so only writes of ours can change a resourceVersion.
    await waitForDeployment(namespace, "web", isSettled, "status settled at zero replicas");
    await waitForDeployment(namespace, "web-primary", isSettled, "status settled");
    const before = await versions();
    const second = await kube.counter.measure(() => activities.initialize(target));
    console.log(`initialize again: ${second.total} API requests ${JSON.stringify(second.requests)}`);
    assert.deepEqual(await versions(), before, "nothing was written");
    assert.equal(second.requests["patch deployments"], undefined, "no workload was patched");
  });
});
