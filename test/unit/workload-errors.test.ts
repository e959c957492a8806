/**
 * Which Kubernetes failures an activity reports as permanent, and what their message tells the
 * user: bad credentials (401) and a resource type the cluster does not serve (a CRD not installed)
 * cannot be fixed by retrying; a missing object or an API server that is down can.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { MockActivityEnvironment } from "@temporalio/testing";
import { AUTH_GRACE_MS, toActivityFailure } from "../../activities/errors.ts";
import { apiError, KubeApiError } from "../../src/kube/errors.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";

const getDeployment = { verb: "get", resource: "deployments", namespace: "shop", name: "web" };

function failure(err: unknown): ApplicationFailure {
  const mapped = toActivityFailure(err);
  assert.ok(mapped instanceof ApplicationFailure, String(mapped));
  return mapped;
}

describe("toActivityFailure", () => {
  it("401: permanent, naming the operator's credentials", () => {
    const err = failure(
      apiError(
        401,
        { reason: "Unauthorized", message: "Unauthorized" },
        getDeployment,
        RESOURCES.deployments,
      ),
    );
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, NON_RETRYABLE_ERRORS.forbidden);
    assert.equal(
      err.message,
      "the API server did not accept the operator's credentials (HTTP 401 Unauthorized) to get " +
        "deployments.apps in namespace shop: check the operator's service account token, or the kubeconfig it runs with",
    );
  });

  it("a resource type the cluster does not serve: permanent, saying what to install", () => {
    const err = failure(
      apiError(
        404,
        { message: "404 page not found" },
        { verb: "get", resource: "httproutes", namespace: "shop", name: "web" },
        RESOURCES.httpRoutes,
      ),
    );
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, NON_RETRYABLE_ERRORS.invalidSpec);
    assert.match(
      err.message,
      /httproutes\.gateway\.networking\.k8s\.io is not served by this cluster .*install it/,
    );
  });

  it("a missing object and an unreachable or failing API server stay retryable", () => {
    for (const err of [
      apiError(404, { reason: "NotFound", details: { name: "web" } }, getDeployment, RESOURCES.deployments),
      apiError(503, { message: "unavailable" }, getDeployment, RESOURCES.deployments),
      new KubeApiError(0, "Unreachable", "get deployments failed: connect ECONNREFUSED", getDeployment),
    ]) {
      assert.equal(toActivityFailure(err), err, err.message);
    }
  });

  it("401 and 403 within a minute of the activity's first schedule are retried: an API server that just restarted answers them until its caches load", async () => {
    const scheduled = 1_000_000;
    const env = new MockActivityEnvironment({ scheduledTimestampMs: scheduled });
    const forbidden = apiError(
      403,
      { reason: "Forbidden", message: 'deployments.apps "web" is forbidden' },
      getDeployment,
      RESOURCES.deployments,
    );
    const unauthorized = apiError(
      401,
      { reason: "Unauthorized", message: "Unauthorized" },
      getDeployment,
      RESOURCES.deployments,
    );
    for (const err of [forbidden, unauthorized]) {
      const early = await env.run(async () => toActivityFailure(err, scheduled + 5_000));
      assert.ok(early instanceof ApplicationFailure);
      assert.equal(early.nonRetryable, false, "retried within the grace period");
      assert.match(early.message, /retrying: the API server may have just restarted/);
      const late = await env.run(async () => toActivityFailure(err, scheduled + AUTH_GRACE_MS + 1));
      assert.ok(late instanceof ApplicationFailure);
      assert.equal(late.nonRetryable, true, "permanent once the grace period is over");
    }
  });
});
