/**
 * Proves the test world's Kubernetes is real: Deployments progress through the real controllers,
 * scheduler and kwok; the never-ready label holds pods unready until the progress deadline; the
 * routing CRDs are served; the operator's kubeconfig is not an admin's.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Deployment,
} from "@kubernetes/client-node";
import { requireBinary } from "../../tools/catalog.ts";
import { neverReadyLabel } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";

const world = worldEnv();
const namespace = `smoke-cluster-${process.pid}`;

function client(kubeconfig: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc;
}

function deployment(
  name: string,
  labels: Record<string, string>,
  progressDeadlineSeconds?: number,
): V1Deployment {
  return {
    metadata: { name, namespace },
    spec: {
      replicas: 2,
      progressDeadlineSeconds,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: { containers: [{ name: "app", image: "example.test/app:1" }] },
      },
    },
  };
}

describe("test world: kubernetes", () => {
  const admin = client(world.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  const apps = admin.makeApiClient(AppsV1Api);

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  it("a Deployment becomes Available with 2 ready pods through controllers, scheduler and kwok", async () => {
    await apps.createNamespacedDeployment({ namespace, body: deployment("web", {}) });
    const ready = await waitFor(
      "deployment web Available",
      async () => {
        const d = await apps.readNamespacedDeployment({ name: "web", namespace });
        const available = d.status?.conditions?.find((c) => c.type === "Available")?.status === "True";
        return available && d.status?.readyReplicas === 2 ? d : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(ready.status?.availableReplicas, 2);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: "app=web" });
    assert.equal(pods.items.length, 2);
    for (const pod of pods.items) {
      assert.equal(pod.spec?.nodeName, "kwok-node-0", "the scheduler bound the pod to the fake node");
      assert.equal(pod.status?.phase, "Running");
      assert.ok(
        pod.metadata?.ownerReferences?.some((o) => o.kind === "ReplicaSet"),
        "owned by a ReplicaSet",
      );
    }
  });

  it("pods labelled never-ready stay unready and the Deployment reports its progress deadline", async () => {
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment("stuck", { [neverReadyLabel]: "true" }, 3),
    });
    const stuck = await waitFor(
      "deployment stuck to exceed its progress deadline",
      async () => {
        const d = await apps.readNamespacedDeployment({ name: "stuck", namespace });
        const progressing = d.status?.conditions?.find((c) => c.type === "Progressing");
        return progressing?.reason === "ProgressDeadlineExceeded" ? d : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(stuck.status?.conditions?.find((c) => c.type === "Progressing")?.status, "False");
    assert.equal(stuck.status?.readyReplicas ?? 0, 0);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: "app=stuck" });
    assert.equal(pods.items.length, 2);
    for (const pod of pods.items) {
      assert.equal(pod.status?.phase, "Running");
      assert.equal(pod.status?.conditions?.find((c) => c.type === "Ready")?.status, "False");
    }
  });

  it("serves the Gateway API and Istio routing CRDs", async () => {
    const custom = admin.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: "gateway.networking.k8s.io",
      version: "v1",
      namespace,
      plural: "httproutes",
      body: {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "web" },
        spec: { rules: [{ backendRefs: [{ name: "web-primary", port: 80, weight: 100 }] }] },
      },
    });
    await custom.createNamespacedCustomObject({
      group: "networking.istio.io",
      version: "v1beta1",
      namespace,
      plural: "virtualservices",
      body: {
        apiVersion: "networking.istio.io/v1beta1",
        kind: "VirtualService",
        metadata: { name: "web" },
        spec: { hosts: ["web"], http: [{ route: [{ destination: { host: "web-primary" }, weight: 100 }] }] },
      },
    });
    const routes = (await custom.listNamespacedCustomObject({
      group: "gateway.networking.k8s.io",
      version: "v1",
      namespace,
      plural: "httproutes",
    })) as { items: unknown[] };
    assert.equal(routes.items.length, 1);
  });

  it("the operator's kubeconfig authenticates as a service account without admin rights", async () => {
    const operator = client(world.operatorKubeconfig);
    const list = await operator.makeApiClient(CoreV1Api).listNamespace();
    assert.ok(list.items.some((ns) => ns.metadata?.name === namespace));
    await assert.rejects(
      operator
        .makeApiClient(RbacAuthorizationV1Api)
        .createClusterRole({ body: { metadata: { name: `escalate-${process.pid}` }, rules: [] } }),
      (err: { code?: number }) => err.code === 403,
    );
  });

  it("kubectl works against the world", () => {
    const out = execFileSync(requireBinary("kubectl"), [
      "--kubeconfig",
      world.kubeconfig,
      "get",
      "nodes",
    ]).toString();
    assert.match(out, /kwok-node-0\s+Ready/);
  });
});
