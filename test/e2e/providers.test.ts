/**
 * Each traffic provider end to end with its builtin metrics, as a Flagger user would run it: the
 * operator as its own process, a Canary with `provider: <p>` and the builtin
 * request-success-rate and request-duration checks, and the mesh simulator standing in for that
 * provider's data plane (it follows the routing objects the operator writes and exports the
 * provider's own metric families). A healthy canary goes through every step to Succeeded; a canary
 * answering half its requests with 500 is rolled back, with the measured rate in its status.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import type { CanaryStatus, Provider } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { providerFixtures } from "../activities/provider-fixtures.ts";
import { setImage } from "../activities/rollout-support.ts";
import { type MeshSimulator, type RouterKind, startMeshSimulator } from "../harness/mesh-simulator.ts";
import { waitFor } from "../harness/process.ts";
import { waitForTargetUp } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { statusWhere } from "./support.ts";

const world = worldEnv();
const namespace = testNamespace("e2e-providers");
let operator: OperatorProcess | undefined;
let mesh: MeshSimulator | undefined;

interface ProviderCase {
  readonly provider: Provider;
  readonly name: string;
  /** The mesh simulator's reader for the provider's routing object. */
  readonly router: RouterKind;
}

const cases: readonly ProviderCase[] = [
  { provider: "nginx", name: "nginx", router: "nginx" },
  { provider: "contour", name: "contour", router: "contour" },
  { provider: "traefik", name: "traefik", router: "traefik" },
  { provider: "linkerd", name: "linkerd", router: "trafficsplit" },
  { provider: "gatewayapi:v1beta1", name: "gw-beta", router: "httproute-v1beta1" },
  { provider: "skipper", name: "skipper", router: "skipper" },
  { provider: "gloo", name: "gloo", router: "gloo" },
  { provider: "apisix", name: "apisix", router: "apisix" },
  // Kuma's TrafficRoutes are cluster-wide, named after the apex Service: one name per test run.
  { provider: "kuma", name: `kuma-${process.pid}`, router: "kuma" },
  { provider: "osm", name: "osm", router: "trafficsplit" },
  { provider: "smi:v1alpha3", name: "smi", router: "trafficsplit" },
  { provider: "appmesh", name: "appmesh", router: "appmesh" },
  { provider: "appmesh:v1beta2", name: "appmesh-v1beta2", router: "appmesh-v1beta2" },
];

/** What the user has before the Canary (nginx: the Ingress it copies), as bench:api prepares it. */
const fixtures = new Map(providerFixtures(namespace).map((f) => [f.provider, f]));

before(async () => {
  // Failed checks are expected here; keep the log readable.
  Runtime.install({ logger: new DefaultLogger("ERROR") });
  operator = await startOperator("providers", operatorGroup(), ["--namespace", namespace]);
  mesh = await startMeshSimulator({
    kubeconfig: world.kubeconfig,
    prometheusTargetsDir: world.prometheusTargetsDir,
    job: `e2e-providers-${process.pid}`,
    routePollMs: 50,
    tickMs: 50,
  });
  await waitForTargetUp(world.prometheusUrl, mesh.job as string);
});

after(async () => {
  await mesh?.stop();
  await operator?.stop();
});

const metrics = [
  { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "10s" },
  { name: "request-duration", thresholdRange: { max: 500 }, interval: "10s" },
];

function measured(status: CanaryStatus, metric: string): number | undefined {
  return status.lastAnalysis?.find((m) => m.name === metric)?.value;
}

describe("every provider rolls out with its builtin metrics", { concurrency: true }, () => {
  for (const c of cases) {
    it(`${c.provider}: healthy → Succeeded; half the requests failing → rolled back, the rate in status`, async () => {
      assert.ok(mesh);
      const { name } = c;
      await createAvailable(deployment(namespace, name, 1));
      const extra = (await fixtures.get(c.provider)?.prepare(name)) ?? {};
      await admin.create(RESOURCES.canaries, namespace, {
        metadata: { name, namespace },
        spec: canarySpec(name, {
          provider: c.provider,
          ...extra,
          analysis: { interval: "2s", threshold: 2, stepWeight: 25, maxWeight: 50, metrics },
        }),
      });
      const app = mesh.add({
        namespace,
        service: name,
        target: name,
        router: c.router,
        routingObject: (extra.ingressRef ?? extra.routeRef)?.name,
        rps: 100,
      });
      const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");

      // The weights the provider's data plane applied, as the simulator read them from its objects.
      const seen = new Set<number>();
      const sampler = setInterval(() => seen.add(app.split().canaryWeight), 25);
      sampler.unref();
      await setImage(namespace, name, "example.test/app:2");
      const done = await statusWhere(
        namespace,
        name,
        "Succeeded",
        (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
        120_000,
      );
      assert.ok((measured(done, "request-success-rate") ?? 0) >= 99, JSON.stringify(done.lastAnalysis));
      const duration = measured(done, "request-duration") ?? 0;
      assert.ok(duration > 0 && duration <= 500, `request-duration ${duration} ms`);
      assert.ok(app.served().canary.requests > 0, "the canary was sent traffic by the provider's routes");
      clearInterval(sampler);
      assert.ok(seen.has(25) && seen.has(50), `canary weights applied: ${[...seen].join(", ")}`);

      app.set("canary", { errorRate: 0.5 });
      await setImage(namespace, name, "example.test/app:3");
      const failed = await statusWhere(namespace, name, "Failed", (s) => s.phase === "Failed", 120_000);
      const rate = measured(failed, "request-success-rate");
      assert.ok(rate !== undefined && rate < 99, JSON.stringify(failed.lastAnalysis));
      assert.equal(failed.canaryWeight, 0);
      await waitFor(
        "the provider's routes send nothing to the canary",
        async () => (app.split().canaryWeight === 0 ? true : undefined),
        { timeoutMs: 5_000, intervalMs: 50 },
      );
    });
  }
});
