/**
 * The kubernetes router, as the operator's service account: blue/green by switching the apex
 * Service between the primary's and the canary's pods, one read of the target and one write of
 * the Service per switch; the router has nothing of its own to reconcile, and promotion, which
 * reconciles the Services, keeps the switch without writing; anything a Service selector cannot
 * do is a non-retryable InvalidSpec.
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
import { reconcileAgain, requestsOn } from "./routing-support.ts";

const namespace = testNamespace("routing-k8s");

async function apexSelector(): Promise<Record<string, string> | undefined> {
  return (await admin.get<V1Service>(RESOURCES.services, namespace, "web")).spec?.selector;
}

describe("kubernetes router", () => {
  it("switches the apex Service between primary and canary in two requests; a second reconcile and promotion write nothing", async () => {
    await createAvailable(deployment(namespace, "web", 1));
    const target = await createCanary(
      namespace,
      "web",
      canarySpec("web", { provider: "kubernetes", analysis: { interval: "1s", iterations: 2 } }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    assert.deepEqual(await apexSelector(), { app: "web-primary" });
    assert.deepEqual(await activities.getRoutes(target), routeTo(0));
    assert.deepEqual(await reconcileAgain(kube, target), {}, "the router has nothing to reconcile");

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
    assert.deepEqual(step.requests, { "get deployments": 1, "patch services": 1 }, "two requests a switch");
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
    const apex = await admin.get<V1Service>(RESOURCES.services, namespace, "web");
    const promote = await kube.counter.measure(() => activities.promote(target));
    assert.deepEqual(requestsOn(promote.requests, "services"), { "get services": 3 }, "only reads");
    assert.deepEqual(await apexSelector(), { app: "web" }, "promotion keeps the switch");
    assert.equal(
      (await admin.get<V1Service>(RESOURCES.services, namespace, "web")).metadata?.resourceVersion,
      apex.metadata?.resourceVersion,
      "the apex Service is not written",
    );
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
