/**
 * End to end, manifests Flagger accepts and reinterprets: each Canary gets a Warning Event saying
 * what will happen, then behaves as Flagger makes it behave. Without analysis, each new revision is
 * promoted once ready; with iterations beside stepWeight, the rollout is blue/green and the
 * weights are ignored; a metric without a threshold is compared with 0.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage } from "../activities/rollout-support.ts";
import { waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-leniency");
let operator: OperatorProcess | undefined;

before(async () => {
  operator = await startOperator("leniency", operatorGroup(), ["--namespace", namespace]);
  // No address: the operator's metrics server (the test world's Prometheus) answers it.
  await admin.create(RESOURCES.metricTemplates, namespace, {
    metadata: { name: "zero", namespace },
    spec: { provider: { type: "prometheus" }, query: "vector(0)" },
  });
});

after(async () => {
  await operator?.stop();
});

interface Event {
  reason?: string;
  type?: string;
  message?: string;
  involvedObject?: { name?: string };
}

/** Waits for a SpecWarning Event on the Canary whose message matches `pattern`. */
function specWarning(name: string, pattern: RegExp): Promise<Event> {
  return waitFor(
    `a SpecWarning Event on ${name} matching ${pattern}`,
    async () => {
      const events = await admin.list<Event>(RESOURCES.events, namespace);
      return events.items.find(
        (e) =>
          e.involvedObject?.name === name &&
          e.reason === "SpecWarning" &&
          e.type === "Warning" &&
          pattern.test(e.message ?? ""),
      );
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
}

describe("a Canary Flagger reads differently", () => {
  it("without analysis: a SpecWarning Event, then each revision is promoted without analysis", async () => {
    const name = "no-analysis";
    await createAvailable(deployment(namespace, name, 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name, namespace },
      spec: {
        provider: "kubernetes",
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
        service: { port: 80, targetPort: 8080 },
      },
    });
    await specWarning(name, /^analysis is not set, so each new revision is promoted/);

    const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    await setImage(namespace, name, "example.test/app:2");
    const done = await statusWhere(
      namespace,
      name,
      "Succeeded with the new revision",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
    );
    assert.equal(done.iterations ?? 0, 0, "no analysis ran");
    assert.equal(done.failedChecks ?? 0, 0);
  });

  it("iterations beside stepWeight, and a metric without thresholdRange: warnings, then blue/green checked against 0", async () => {
    const name = "bg-weights";
    await createAvailable(deployment(namespace, name, 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name, namespace },
      spec: canarySpec(name, {
        analysis: {
          interval: "1s",
          threshold: 1,
          iterations: 3,
          stepWeight: 25,
          metrics: [{ name: "zero", templateRef: { name: "zero" }, interval: "1m" }],
        },
      }),
    });
    await specWarning(
      name,
      /^analysis\.iterations selects blue\/green, so analysis\.stepWeight has no effect, as in Flagger: 3 iterations run on the canary without shifting weights/,
    );
    await specWarning(
      name,
      /^analysis\.metrics\[0\] \(zero\) has no thresholdRange, so any value above 0 fails the check/,
    );

    const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    const route = recordCanaryWeights(namespace, name, admin);
    await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    await setImage(namespace, name, "example.test/app:2");
    // Two blue/green iterations done, with the canary analysed: users are still all on the primary.
    await statusWhere(
      namespace,
      name,
      "the second iteration",
      (s) => s.phase === "Progressing" && (s.iterations ?? 0) >= 2 && (s.canaryWeight ?? 0) === 0,
    );
    assert.deepEqual(route.weights, [0], "no stepWeight step during the iterations");
    const done = await statusWhere(
      namespace,
      name,
      "Succeeded with the new revision",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
    );
    await route.stop();
    // The only split is the switch to the canary after the iterations, then back to the new primary.
    assert.deepEqual(route.weights, [0, 100, 0]);
    assert.equal(done.failedChecks ?? 0, 0, "0 is not above 0, so every check passes");
    assert.deepEqual(
      done.lastAnalysis?.map((m) => [m.name, m.value, m.verdict]),
      [["zero", 0, "pass"]],
    );
  });
});
