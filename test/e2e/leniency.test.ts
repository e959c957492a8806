/**
 * End to end, a manifest Flagger accepts and reinterprets: a Canary without analysis gets a
 * Warning Event saying what will happen, then behaves as Flagger makes it behave (each new
 * revision is promoted once ready, without analysis).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { setImage } from "../activities/rollout-support.ts";
import { waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-leniency");
let operator: OperatorProcess | undefined;

before(async () => {
  operator = await startOperator("leniency", operatorGroup(), ["--namespace", namespace]);
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
    const warning = await waitFor(
      "a SpecWarning Event saying analysis is skipped",
      async () => {
        const events = await admin.list<Event>(RESOURCES.events, namespace);
        return events.items.find(
          (e) => e.involvedObject?.name === name && e.reason === "SpecWarning" && e.type === "Warning",
        );
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    assert.match(warning.message ?? "", /analysis is not set, so each new revision is promoted/);

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
});
