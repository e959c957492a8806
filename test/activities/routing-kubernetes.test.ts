/**
 * The kubernetes router: blue/green by switching the apex Service between the primary's and the
 * canary's pods; anything a Service selector cannot do is a non-retryable InvalidSpec.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("routing-k8s");

async function apexSelector(): Promise<Record<string, string> | undefined> {
  return (await admin.get<V1Service>(RESOURCES.services, namespace, "web")).spec?.selector;
}

describe("kubernetes router", () => {
  it("switches the apex Service between primary and canary", async () => {
    await createAvailable(deployment(namespace, "web", 1));
    const target = await createCanary(
      namespace,
      "web",
      canarySpec("web", { provider: "kubernetes", analysis: { interval: "1s", iterations: 2 } }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    assert.deepEqual(await apexSelector(), { app: "web-primary" });
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));

    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await apexSelector(), { app: "web" });
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));
    // The switch is undone by initializing again: the target it points at is scaled to zero.
    await activities.initialize(target);
    assert.deepEqual(
      await apexSelector(),
      { app: "web-primary" },
      "initializing again routes to the primary",
    );
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));

    await activities.setRoutes(target, routeTo(100));
    await activities.promote(target);
    assert.deepEqual(await apexSelector(), { app: "web" }, "promotion keeps the switch");
    await activities.setRoutes(target, routeTo(0));
    assert.deepEqual(await apexSelector(), { app: "web-primary" });
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));

    for (const routes of [routeTo(30), routeTo(0, true)]) {
      await assert.rejects(activities.setRoutes(target, routes), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, NON_RETRYABLE_ERRORS.invalidSpec);
        assert.match(
          err.message,
          /the kubernetes provider can only send all traffic to the primary or to the canary/,
        );
        return true;
      });
    }
  });
});
