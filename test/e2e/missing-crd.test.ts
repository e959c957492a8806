/**
 * A Canary on a cluster without its routing CRDs (the Gateway API is not installed): it cannot
 * initialize, says why, and deleted with revertOnDeletion it is still gone in time. A cluster of
 * its own, since the shared world has every CRD; the world's Temporal serves its operator.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { canarySpec, deployment, isAvailable } from "../activities/kube-support.ts";
import { type ClusterInfo, startCluster } from "../harness/cluster.ts";
import { installCrds } from "../harness/crds.ts";
import { Supervisor, waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";

const dir = mkdtempSync(join(tmpdir(), "durable-canary-no-gateway-"));
const supervisor = new Supervisor(dir);
const namespace = `apps-${process.pid}`;
let cluster: ClusterInfo | undefined;
let admin: KubeClient | undefined;
let operator: OperatorProcess | undefined;

before(async () => {
  cluster = await startCluster(supervisor, join(dir, "cluster"));
  const crds = join(import.meta.dirname, "../../deploy/crds");
  await installCrds(
    cluster.kubeconfig,
    readdirSync(crds).map((f) => join(crds, f)),
  );
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  admin = new KubeClient(config, { fieldManager: "test-user" });
  await admin.api(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  operator = await startOperator("no-gateway", operatorGroup(), [
    "--kubeconfig",
    cluster.operatorKubeconfig,
    "--namespace",
    namespace,
    "--finalize-timeout",
    "15s",
  ]);
});

after(async () => {
  await operator?.stop("SIGKILL");
  await supervisor.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe("a cluster without the Gateway API CRDs", () => {
  it("the Canary says why it cannot start, and is gone in time when deleted", async () => {
    assert.ok(admin);
    const kube = admin;
    await kube.create(RESOURCES.deployments, namespace, deployment(namespace, "app", 1));
    await waitFor(
      "the Deployment available",
      async () => (isAvailable(await kube.get(RESOURCES.deployments, namespace, "app")) ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await kube.create(RESOURCES.canaries, namespace, {
      metadata: { name: "app", namespace },
      spec: { ...canarySpec("app"), revertOnDeletion: true },
    });
    await waitFor(
      "a Warning Event naming the missing routing resource",
      async () => {
        const events = await kube.list<{ type?: string; message?: string }>(RESOURCES.events, namespace);
        return events.items.some((e) => e.type === "Warning" && /httproutes/i.test(e.message ?? ""))
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await kube.delete(RESOURCES.canaries, namespace, "app");
    await waitFor(
      "the Canary gone",
      async () => ((await kube.find(RESOURCES.canaries, namespace, "app")) === undefined ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  });
});
