/**
 * The Kubernetes client and error mapping against the real API server, as the operator's service
 * account: RBAC denials name the missing rule and are permanent; missing targets and unusable
 * specs are permanent with a fix in the message; typed client-node APIs are counted too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { toActivityFailure } from "../../activities/errors.ts";
import { KubeApiError } from "../../src/kube/errors.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import {
  admin,
  canarySpec,
  createCanary,
  deployment,
  operatorActivities,
  operatorClient,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("kube-client");

function permanent(type: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, type);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, pattern);
    return true;
  };
}

describe("kube client (operator service account)", () => {
  it("a 403 names the verb, resource and namespace and is a permanent Forbidden failure", async () => {
    await admin.create(RESOURCES.deployments, namespace, deployment(namespace, "keep", 1));
    const kube = operatorClient();
    const err = await kube.delete(RESOURCES.deployments, namespace, "keep").then(
      () => assert.fail("the operator may not delete Deployments"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.code, 403);
    assert.equal(
      err.message,
      `forbidden: the operator may not delete deployments.apps in namespace ${namespace}: ` +
        `add the verb "delete" on "deployments.apps" to the operator's ClusterRole (deploy/rbac)`,
    );
    assert.throws(
      () => {
        throw toActivityFailure(err);
      },
      permanent(NON_RETRYABLE_ERRORS.forbidden, /may not delete deployments\.apps/),
    );
  });

  it("a missing target and a missing Canary are permanent, with the fix", async () => {
    const { activities } = operatorActivities();
    const missingTarget = await createCanary(namespace, "ghost", canarySpec("ghost"));
    await assert.rejects(
      activities.initialize(missingTarget),
      permanent(
        NON_RETRYABLE_ERRORS.targetNotFound,
        new RegExp(`Deployment ${namespace}/ghost \\(spec.targetRef\\) not found: create it`),
      ),
    );
    await assert.rejects(
      activities.initialize({ ...missingTarget, ref: { namespace, name: "no-such-canary" } }),
      permanent(NON_RETRYABLE_ERRORS.targetNotFound, /Canary .*\/no-such-canary not found/),
    );
  });

  it("a target without a recognised selector label is an InvalidSpec naming the labels", async () => {
    const odd = deployment(namespace, "odd", 1);
    if (odd.spec) {
      odd.spec.selector = { matchLabels: { component: "odd" } };
      odd.spec.template.metadata = { labels: { component: "odd" } };
    }
    await admin.create(RESOURCES.deployments, namespace, odd);
    const target = await createCanary(namespace, "odd", canarySpec("odd"));
    await assert.rejects(
      operatorActivities().activities.initialize(target),
      permanent(
        NON_RETRYABLE_ERRORS.invalidSpec,
        /matchLabels must contain one of app, name, app\.kubernetes\.io\/name/,
      ),
    );
  });

  it("counts requests of typed client-node APIs made from the client, and watches", async () => {
    const kube = operatorClient();
    await kube.api(CoreV1Api).listNamespacedPod({ namespace });
    await kube
      .api(CoreV1Api)
      .readNamespacedService({ name: "nothing", namespace })
      .catch(() => undefined);
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 200);
    await kube.watch(RESOURCES.pods, namespace, { timeoutSeconds: 1 }, () => undefined, stop.signal);
    assert.deepEqual(kube.counter.snapshot(), { "get services": 1, "list pods": 1, "watch pods": 1 });
  });
});
