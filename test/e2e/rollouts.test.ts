/**
 * End to end, as a user works: the operator runs as its own process; the test only creates,
 * updates and deletes Kubernetes objects and reads statuses and routes. Each strategy, each
 * target kind and each trigger of a rollout (image, ConfigMap, Secret) goes from Initialized
 * through its steps to Succeeded.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1DaemonSet, V1Deployment } from "@kubernetes/client-node";
import type { CanarySpec } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  daemonSet,
  deployment,
  testNamespace,
} from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage } from "../activities/rollout-support.ts";
import { type MeshSimulator, startMeshSimulator } from "../harness/mesh-simulator.ts";
import { waitFor } from "../harness/process.ts";
import { waitForTargetUp } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { promoted, statusWhere } from "./support.ts";

const world = worldEnv();
const namespace = testNamespace("e2e-rollouts");
let operator: OperatorProcess | undefined;
let mesh: MeshSimulator | undefined;

before(async () => {
  operator = await startOperator("rollouts", operatorGroup(), ["--namespace", namespace]);
  mesh = await startMeshSimulator({
    kubeconfig: world.kubeconfig,
    prometheusTargetsDir: world.prometheusTargetsDir,
    job: `e2e-rollouts-${process.pid}`,
    routePollMs: 50,
    tickMs: 50,
  });
});

after(async () => {
  await mesh?.stop();
  await operator?.stop();
});

async function createCanaryObject(name: string, spec: object): Promise<void> {
  await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
}

async function primaryImage(name: string, kind: "Deployment" | "DaemonSet" = "Deployment") {
  const type = kind === "Deployment" ? RESOURCES.deployments : RESOURCES.daemonSets;
  const primary = await admin.get<V1Deployment | V1DaemonSet>(type, namespace, `${name}-primary`);
  return primary.spec?.template.spec?.containers[0]?.image;
}

/** A Deployment and its Canary: Initialized, then a new image goes through to the primary. */
async function rollsOutNewImage(name: string, spec: Partial<CanarySpec>): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
  await createCanaryObject(name, canarySpec(name, spec));
  const first = await initialized(name);
  await setImage(namespace, name, "example.test/app:2");
  await succeeded(name, first.lastPromotedSpec);
  assert.equal(await primaryImage(name), "example.test/app:2");
}

const initialized = (name: string) =>
  statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
const succeeded = (name: string, since: string | undefined) =>
  statusWhere(
    namespace,
    name,
    "Succeeded with a new revision",
    (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== since,
  );

describe("a Canary applied to a cluster rolls out", { concurrency: true }, () => {
  it("gatewayapi:v1 with a Prometheus metric: every step, then the new image on the primary", async () => {
    assert.ok(mesh);
    const name = "gw";
    await createAvailable(deployment(namespace, name, 1));
    await createCanaryObject(
      name,
      canarySpec(name, {
        analysis: {
          interval: "2s",
          threshold: 5,
          stepWeight: 25,
          maxWeight: 75,
          metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "10s" }],
        },
      }),
    );
    mesh.add({ namespace, service: name, target: name, router: "httproute", rps: 100 });
    await waitForTargetUp(world.prometheusUrl, mesh.job as string);
    const first = await initialized(name);
    assert.equal(promoted(first)?.status, "True");
    const route = recordCanaryWeights(namespace, name, admin);
    await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    await setImage(namespace, name, "example.test/app:2");
    await statusWhere(namespace, name, "Progressing", (s) => s.phase === "Progressing");
    const done = await succeeded(name, first.lastPromotedSpec);
    await route.stop();
    assert.deepEqual(route.weights, [0, 25, 50, 75, 0]);
    assert.equal(await primaryImage(name), "example.test/app:2");
    assert.equal(promoted(done)?.status, "True");
    assert.equal(done.canaryWeight, 0);
    const [rate] = done.lastAnalysis ?? [];
    assert.equal(rate?.name, "request-success-rate");
    assert.ok((rate?.value ?? 0) >= 99, `measured ${rate?.value}`);

    // Flagger's series, from the Canary objects, as a dashboard scrapes them.
    const metrics = (await (operator as OperatorProcess).get("/metrics")).body;
    const series = (line: string) => metrics.split("\n").find((l) => l.startsWith(line));
    assert.equal(
      series(`flagger_canary_status{name="${name}",namespace="${namespace}"}`)?.split(" ")[1],
      "1",
    );
    assert.equal(
      series(`flagger_canary_weight{workload="${name}-primary",namespace="${namespace}"}`)?.split(" ")[1],
      "100",
    );
    assert.equal(
      series(`flagger_canary_successes_total{name="${name}",namespace="${namespace}"}`)?.split(" ")[1],
      "1",
    );
    assert.ok(
      series(
        `flagger_canary_metric_analysis{name="${name}",namespace="${namespace}",metric="request-success-rate"}`,
      ),
      "the metric's value is exported",
    );
  });

  it("kubernetes blue/green with iterations", () =>
    rollsOutNewImage("bg", {
      provider: "kubernetes",
      analysis: { interval: "1s", threshold: 2, iterations: 2 },
    }));

  it("istio canary", () =>
    rollsOutNewImage("mesh", {
      provider: "istio",
      analysis: { interval: "1s", threshold: 2, stepWeight: 50 },
    }));

  it("a DaemonSet target", async () => {
    const name = "ds";
    await admin.create(RESOURCES.daemonSets, namespace, daemonSet(namespace, name));
    await createCanaryObject(
      name,
      canarySpec(name, {
        provider: "kubernetes",
        targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name },
        analysis: { interval: "1s", threshold: 2, iterations: 1 },
      }),
    );
    const first = await initialized(name);
    await admin.jsonPatch(RESOURCES.daemonSets, namespace, name, [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:2" },
    ]);
    await succeeded(name, first.lastPromotedSpec);
    assert.equal(await primaryImage(name, "DaemonSet"), "example.test/app:2");
  });

  it("A/B testing with a header match", async () => {
    const name = "ab";
    await createAvailable(deployment(namespace, name, 1));
    await createCanaryObject(
      name,
      canarySpec(name, {
        analysis: {
          interval: "1s",
          threshold: 2,
          iterations: 2,
          match: [{ headers: { "x-canary": { exact: "insider" } } }],
        },
      }),
    );
    const first = await initialized(name);
    await setImage(namespace, name, "example.test/app:2");
    await statusWhere(namespace, name, "Progressing", (s) => s.phase === "Progressing");
    const route = await admin.get<{ spec: { rules: { matches?: { headers?: { name: string }[] }[] }[] } }>(
      RESOURCES.httpRoutes,
      namespace,
      name,
    );
    const headers = route.spec.rules.flatMap((r) => r.matches ?? []).flatMap((m) => m.headers ?? []);
    assert.ok(
      headers.some((h) => h.name === "x-canary"),
      JSON.stringify(route.spec.rules),
    );
    await succeeded(name, first.lastPromotedSpec);
  });

  it("a ConfigMap change and a Secret change each start a rollout", async () => {
    const name = "cfg";
    await admin.create(RESOURCES.configMaps, namespace, {
      metadata: { name: "cfg-settings" },
      data: { level: "1" },
    });
    await admin.create(RESOURCES.secrets, namespace, {
      metadata: { name: "cfg-token" },
      stringData: { token: "a" },
    });
    await createAvailable(
      deployment(namespace, name, 1, {
        extra: {
          volumes: [
            { name: "settings", configMap: { name: "cfg-settings" } },
            { name: "token", secret: { secretName: "cfg-token" } },
          ],
        },
      }),
    );
    await createCanaryObject(
      name,
      canarySpec(name, { provider: "kubernetes", analysis: { interval: "1s", threshold: 2, iterations: 1 } }),
    );
    const first = await initialized(name);
    await admin.mergePatch(RESOURCES.configMaps, namespace, "cfg-settings", { data: { level: "2" } });
    const afterConfigMap = await succeeded(name, first.lastPromotedSpec);
    const copy = await admin.get<{ data?: Record<string, string> }>(
      RESOURCES.configMaps,
      namespace,
      "cfg-settings-primary",
    );
    assert.equal(copy.data?.level, "2");
    await admin.mergePatch(RESOURCES.secrets, namespace, "cfg-token", { stringData: { token: "b" } });
    await succeeded(name, afterConfigMap.lastPromotedSpec);
    const secret = await admin.get<{ data?: Record<string, string> }>(
      RESOURCES.secrets,
      namespace,
      "cfg-token-primary",
    );
    assert.equal(Buffer.from(secret.data?.token ?? "", "base64").toString(), "b");
  });
});
