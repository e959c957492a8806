/**
 * The mesh simulator against the real API server and Prometheus: it follows VirtualService and
 * HTTPRoute weights, A/B matches, mirroring and the apex Service's selector as they change, and
 * Prometheus computes each workload's error rate and latency from what it exposes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import {
  type AppHandle,
  type MeshSimulator,
  type Split,
  startMeshSimulator,
} from "../harness/mesh-simulator.ts";
import { waitFor } from "../harness/process.ts";
import { instantQuery, waitForTargetUp } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";

const world = worldEnv();
const namespace = `mesh-${process.pid}`;

const kc = new KubeConfig();
kc.loadFromFile(world.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

function virtualService(name: string, primary: number, canary: number) {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace },
    spec: {
      hosts: [name],
      http: [
        {
          route: [
            { destination: { host: `${name}-primary` }, weight: primary },
            { destination: { host: `${name}-canary.${namespace}.svc.cluster.local` }, weight: canary },
          ],
        },
      ],
    },
  };
}

const istio = { group: "networking.istio.io", version: "v1", namespace, plural: "virtualservices" };
const gateway = { group: "gateway.networking.k8s.io", version: "v1", namespace, plural: "httproutes" };

/** Requests each side answered during `ms`. */
async function servedDuring(app: AppHandle, ms: number): Promise<{ primary: number; canary: number }> {
  const before = app.served();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const now = app.served();
  return {
    primary: now.primary.requests - before.primary.requests,
    canary: now.canary.requests - before.canary.requests,
  };
}

function splitIs(app: AppHandle, wanted: Partial<Split>) {
  return waitFor(
    `split ${JSON.stringify(wanted)}`,
    async () => {
      const split = app.split();
      return Object.entries(wanted).every(([k, v]) => split[k as keyof Split] === v) ? split : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
}

describe("mesh simulator", () => {
  let mesh: MeshSimulator;

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    mesh = await startMeshSimulator({
      kubeconfig: world.kubeconfig,
      prometheusTargetsDir: world.prometheusTargetsDir,
      job: `mesh-test-${process.pid}`,
    });
  });
  after(async () => {
    await mesh.stop();
    await core.deleteNamespace({ name: namespace });
  });

  test("follows a VirtualService's weights as they change", async () => {
    await custom.createNamespacedCustomObject({ ...istio, body: virtualService("weights", 70, 30) });
    const app = mesh.add({
      namespace,
      service: "weights",
      target: "weights",
      router: "virtualservice",
      rps: 200,
    });
    await splitIs(app, { primaryWeight: 70, canaryWeight: 30 });
    const served = await servedDuring(app, 1_000);
    const share = served.canary / (served.primary + served.canary);
    assert.ok(Math.abs(share - 0.3) < 0.02, `canary share ${share}`);

    await custom.replaceNamespacedCustomObject({
      ...istio,
      name: "weights",
      body: {
        ...virtualService("weights", 0, 100),
        metadata: (
          (await custom.getNamespacedCustomObject({ ...istio, name: "weights" })) as { metadata: object }
        ).metadata,
      },
    });
    await splitIs(app, { primaryWeight: 0, canaryWeight: 100 });
    const after = await servedDuring(app, 500);
    assert.equal(after.primary, 0);
    assert.ok(after.canary > 50);
  });

  test("follows an HTTPRoute's A/B match and mirror filter", async () => {
    await custom.createNamespacedCustomObject({
      ...gateway,
      body: {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "ab", namespace },
        spec: {
          rules: [
            {
              matches: [{ headers: [{ name: "x-canary", value: "insider" }] }],
              backendRefs: [{ name: "ab-canary", port: 80 }],
            },
            {
              backendRefs: [
                { name: "ab-primary", port: 80, weight: 100 },
                { name: "ab-canary", port: 80, weight: 0 },
              ],
              filters: [
                {
                  type: "RequestMirror",
                  requestMirror: { backendRef: { name: "ab-canary", port: 80 }, percent: 50 },
                },
              ],
            },
          ],
        },
      },
    });
    const app = mesh.add({
      namespace,
      service: "ab",
      target: "ab",
      router: "httproute",
      rps: 200,
      matchingShare: 0.2,
    });
    await splitIs(app, { abToCanary: true, mirrorPercent: 50, primaryWeight: 100, canaryWeight: 0 });
    const served = await servedDuring(app, 1_000);
    // Per 10 requests: 2 match and go to the canary, 8 go to the primary and 4 of those are mirrored.
    const ratio = served.canary / served.primary;
    assert.ok(Math.abs(ratio - 0.75) < 0.03, `canary/primary ${ratio}`);
  });

  test("for the kubernetes provider, follows the apex Service's selector", async () => {
    await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: "bluegreen" },
        spec: { selector: { app: "bluegreen-primary" }, ports: [{ port: 80 }] },
      },
    });
    const app = mesh.add({ namespace, service: "bluegreen", target: "bluegreen", router: "service" });
    await splitIs(app, { primaryWeight: 100, canaryWeight: 0 });
    await core.patchNamespacedService({
      namespace,
      name: "bluegreen",
      body: [{ op: "replace", path: "/spec/selector/app", value: "bluegreen" }],
    });
    await splitIs(app, { primaryWeight: 0, canaryWeight: 100 });
  });

  test("Prometheus computes each workload's error rate and latency under Istio and Envoy names", async () => {
    await custom.createNamespacedCustomObject({ ...istio, body: virtualService("scraped", 50, 50) });
    const app = mesh.add({
      namespace,
      service: "scraped",
      target: "scraped",
      router: "virtualservice",
      canary: { errorRate: 0.2, latency: [{ ms: 80, share: 1 }] },
    });
    await splitIs(app, { canaryWeight: 50 });
    await waitForTargetUp(world.prometheusUrl, mesh.job as string);

    const workload = `destination_workload_namespace="${namespace}",destination_workload="scraped"`;
    const cluster = (side: string) => `envoy_cluster_name="${namespace}_scraped-${side}_80"`;
    /** Waits until the query's value settles near `expected` (a young series' rate is still filling its window). */
    const settles = (what: string, promql: string, expected: number, tolerance: number) =>
      waitFor(
        what,
        async () => {
          const value = (await instantQuery(world.prometheusUrl, promql))[0]?.value;
          if (value === undefined || Math.abs(value - expected) > tolerance)
            throw new Error(`value ${value}`);
          return value;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );

    await settles(
      "istio error share of the canary",
      `sum(rate(istio_requests_total{reporter="destination",${workload},response_code="500"}[5s])) / sum(rate(istio_requests_total{reporter="destination",${workload}}[5s]))`,
      0.2,
      0.01,
    );
    // 80 ms lies in Istio's (50, 100] bucket: Prometheus interpolates p99 to 99.5.
    await settles(
      "istio p99 of the canary",
      `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",${workload}}[5s])))`,
      99.5,
      0.5,
    );
    await settles(
      "envoy error share of the canary cluster",
      `sum(rate(envoy_cluster_upstream_rq{${cluster("canary")},envoy_response_code=~"5.."}[5s])) / sum(rate(envoy_cluster_upstream_rq{${cluster("canary")}}[5s]))`,
      0.2,
      0.01,
    );
    await settles(
      "envoy request rate of the primary cluster",
      `sum(rate(envoy_cluster_upstream_rq{${cluster("primary")}}[5s]))`,
      50,
      5,
    );
  });
});
