import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { holdsAll } from "../../activities/applied-already.ts";

describe("holdsAll: whether an apply would change what readers see", () => {
  const service = {
    metadata: { name: "web", labels: { app: "web", team: "a" }, resourceVersion: "12" },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.0.0.7",
      selector: { app: "web-primary" },
      ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
    },
  };

  test("server defaults and other managers' keys are allowed", () => {
    assert.equal(
      holdsAll(service, {
        metadata: { name: "web", labels: { app: "web" }, annotations: {} },
        spec: { type: "ClusterIP", selector: { app: "web-primary" }, ports: [{ name: "http", port: 80 }] },
      }),
      true,
    );
  });

  test("a changed value, a missing key or a list of another length is a change", () => {
    assert.equal(holdsAll(service, { spec: { selector: { app: "web" } } }), false);
    assert.equal(holdsAll(service, { metadata: { annotations: { a: "b" } } }), false);
    assert.equal(
      holdsAll(service, {
        spec: { ports: [{ port: 80 }, { port: 9090 }] },
      }),
      false,
    );
    assert.equal(holdsAll(service, { spec: { ports: [{ targetPort: "http" }] } }), false);
  });

  test("an empty map or list is held by an absent one; a value is not held by an object", () => {
    assert.equal(holdsAll({ metadata: {} }, { metadata: { labels: {} }, spec: { rules: [] } }), true);
    assert.equal(holdsAll({ spec: "x" }, { spec: { a: 1 } }), false);
    assert.equal(holdsAll({ spec: { a: [1] } }, { spec: { a: { 0: 1 } } }), false);
  });
});
