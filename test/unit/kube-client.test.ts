import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { apiError, isAlreadyExists, isConflict, KubeApiError } from "../../src/kube/errors.ts";
import { ApiRequestCounter, describeRequest } from "../../src/kube/request-counter.ts";
import { RESOURCES, resourcePath } from "../../src/kube/resources.ts";
import { retryOnConflict } from "../../src/kube/retry.ts";

describe("describeRequest", () => {
  const base = "https://127.0.0.1:6443";
  const cases: [string, string, string, string, string | undefined, string | undefined][] = [
    ["GET", "/apis/apps/v1/namespaces/web/deployments/api", "get", "deployments", "web", "api"],
    [
      "GET",
      "/apis/apps/v1/namespaces/web/deployments?labelSelector=app%3Dx",
      "list",
      "deployments",
      "web",
      undefined,
    ],
    [
      "GET",
      "/apis/apps/v1/namespaces/web/deployments?watch=true&fieldSelector=x",
      "watch",
      "deployments",
      "web",
      undefined,
    ],
    [
      "PATCH",
      "/apis/flagger.app/v1beta1/namespaces/web/canaries/c/status",
      "patch",
      "canaries/status",
      "web",
      "c",
    ],
    ["POST", "/api/v1/namespaces/web/events", "create", "events", "web", undefined],
    ["PUT", "/api/v1/namespaces/web/services/api", "update", "services", "web", "api"],
    [
      "DELETE",
      "/apis/networking.istio.io/v1beta1/namespaces/web/virtualservices/api",
      "delete",
      "virtualservices",
      "web",
      "api",
    ],
    ["GET", "/api/v1/namespaces/web", "get", "namespaces", undefined, "web"],
    ["GET", "/api/v1/namespaces", "list", "namespaces", undefined, undefined],
  ];
  for (const [method, path, verb, resource, namespace, name] of cases) {
    it(`${method} ${path} is ${verb} ${resource}`, () => {
      assert.deepEqual(describeRequest(method, base + path), { verb, resource, namespace, name });
    });
  }
});

describe("ApiRequestCounter", () => {
  it("counts by verb and resource and measures a piece of work", async () => {
    const counter = new ApiRequestCounter();
    counter.record("get", "deployments");
    const { result, requests, total } = await counter.measure(async () => {
      counter.record("get", "deployments");
      counter.record("patch", "canaries/status");
      return 7;
    });
    assert.equal(result, 7);
    assert.deepEqual(requests, { "get deployments": 1, "patch canaries/status": 1 });
    assert.equal(total, 2);
    assert.deepEqual(counter.snapshot(), { "get deployments": 2, "patch canaries/status": 1 });
    assert.equal(counter.total(), 3);
    counter.reset();
    assert.equal(counter.total(), 0);
  });
});

describe("apiError", () => {
  const request = { verb: "patch", resource: "deployments", namespace: "web", name: "api" };

  it("a 403 names the verb, the resource with its group, the namespace and the fix", () => {
    const err = apiError(403, { reason: "Forbidden", message: "nope" }, request, RESOURCES.deployments);
    assert.equal(err.code, 403);
    assert.match(err.message, /may not patch deployments\.apps in namespace web/);
    assert.match(err.message, /add the verb "patch" on "deployments\.apps" to the operator's ClusterRole/);
  });

  it("a 404 for a resource type the cluster does not serve says which CRD to install", () => {
    const missingType = apiError(
      404,
      { message: "404 page not found" },
      { verb: "patch", resource: "httproutes", namespace: "web", name: "api" },
      RESOURCES.httpRoutes,
    );
    assert.equal(missingType.typeNotServed, true);
    assert.match(
      missingType.message,
      /httproutes\.gateway\.networking\.k8s\.io is not served by this cluster/,
    );
    const missingObject = apiError(
      404,
      {
        reason: "NotFound",
        message: 'httproutes "api" not found',
        details: { name: "api", kind: "httproutes" },
      },
      { verb: "get", resource: "httproutes", namespace: "web", name: "api" },
      RESOURCES.httpRoutes,
    );
    assert.equal(missingObject.typeNotServed, false);
    assert.match(
      missingObject.message,
      /httproutes\.gateway\.networking\.k8s\.io api in namespace web not found/,
    );
  });

  it("keeps the subresource in the resource name", () => {
    const err = apiError(
      403,
      {},
      { verb: "patch", resource: "canaries/status", namespace: "web", name: "c" },
      RESOURCES.canaries,
    );
    assert.match(err.message, /patch canaries\.flagger\.app\/status in namespace web/);
  });

  it("a 422 lists the server's causes", () => {
    const err = apiError(
      422,
      { reason: "Invalid", details: { causes: [{ field: "spec.rules[0].matches", message: "bad regex" }] } },
      request,
      RESOURCES.httpRoutes,
    );
    assert.match(err.message, /is invalid: spec\.rules\[0\]\.matches: bad regex/);
  });

  it("tells a lost race from an existing object", () => {
    assert.ok(isConflict(apiError(409, { reason: "Conflict" }, request, undefined)));
    assert.ok(!isConflict(apiError(409, { reason: "AlreadyExists" }, request, undefined)));
    assert.ok(isAlreadyExists(apiError(409, { reason: "AlreadyExists" }, request, undefined)));
  });
});

describe("retryOnConflict", () => {
  const conflict = () =>
    new KubeApiError(409, "Conflict", "changed", { verb: "patch", resource: "x", namespace: "n", name: "a" });

  it("retries conflicts and returns the first success", async () => {
    let calls = 0;
    const result = await retryOnConflict(
      async (n) => {
        calls++;
        if (n < 3) throw conflict();
        return "done";
      },
      { baseDelayMs: 1 },
    );
    assert.equal(result, "done");
    assert.equal(calls, 3);
  });

  it("gives up after the last attempt and never retries other errors", async () => {
    await assert.rejects(
      retryOnConflict(async () => Promise.reject(conflict()), { attempts: 2, baseDelayMs: 1 }),
      /changed/,
    );
    let calls = 0;
    await assert.rejects(
      retryOnConflict(async () => {
        calls++;
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(calls, 1);
  });
});

describe("resourcePath", () => {
  it("builds core and group paths with subresources", () => {
    assert.equal(resourcePath(RESOURCES.services, "web", "api"), "/api/v1/namespaces/web/services/api");
    assert.equal(
      resourcePath(RESOURCES.canaries, "web", "c", "status"),
      "/apis/flagger.app/v1beta1/namespaces/web/canaries/c/status",
    );
    assert.equal(
      resourcePath(RESOURCES.httpRoutes, "web"),
      "/apis/gateway.networking.k8s.io/v1/namespaces/web/httproutes",
    );
  });

  it("leaves the namespace out of cluster-scoped paths", () => {
    assert.equal(
      resourcePath(RESOURCES.kumaTrafficRoutes, "", "web"),
      "/apis/kuma.io/v1alpha1/trafficroutes/web",
    );
    assert.equal(
      resourcePath(RESOURCES.kumaTrafficRoutes, undefined),
      "/apis/kuma.io/v1alpha1/trafficroutes",
    );
  });
});
