/**
 * Credentials the API server rejects (HTTP 401) end an activity at once with a permanent failure
 * that names the operator's credentials, rather than a retry forever: against the real API server.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { createKubernetesActivities } from "../../activities/kubernetes.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { worldEnv } from "../harness/world-env.ts";
import { canarySpec, resolve } from "./kube-support.ts";

/** The operator's cluster, with a bearer token the API server has never issued. */
function badCredentials(): KubeClient {
  const operator = new KubeConfig();
  operator.loadFromFile(worldEnv().operatorKubeconfig);
  const cluster = operator.getCurrentCluster();
  assert.ok(cluster);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "revoked", token: "not-a-token-the-server-issued" }],
    contexts: [{ name: "revoked", cluster: cluster.name, user: "revoked" }],
    currentContext: "revoked",
  });
  return new KubeClient(kc);
}

describe("rejected credentials", () => {
  it("fail an activity permanently, saying to check the operator's credentials", async () => {
    const activities = createKubernetesActivities({ kube: badCredentials() });
    const target = { ref: { namespace: "default", name: "web" }, spec: resolve(canarySpec("web")) };
    const err = await activities.initialize(target).then(
      () => assert.fail("expected a 401"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, NON_RETRYABLE_ERRORS.forbidden);
    assert.match(
      err.message,
      /did not accept the operator's credentials \(HTTP 401 Unauthorized\) to get canaries/,
    );
  });
});
