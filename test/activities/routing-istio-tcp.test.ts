/**
 * The Istio router for a service whose `appProtocol` is tcp, against the real VirtualService CRD:
 * as in Flagger, one TCP route splits the connections by weight (matched by the ports of
 * `service.match`), and no HTTP route is written.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RESOURCES } from "../../src/kube/resources.ts";
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

const namespace = testNamespace("routing-istio-tcp");

interface Route {
  match?: { port?: number }[];
  route: { destination: { host: string; port?: { number: number } }; weight?: number }[];
}

interface VirtualService {
  spec: { hosts?: string[]; http?: Route[]; tcp?: Route[] };
}

describe("istio router with appProtocol tcp", () => {
  it("writes one weighted TCP route, and reads the weights back from it", async () => {
    await createAvailable(deployment(namespace, "db-proxy", 1));
    const target = await createCanary(
      namespace,
      "db-proxy",
      canarySpec("db-proxy", {
        provider: "istio",
        service: { port: 5432, appProtocol: "TCP", match: [{ port: 5432 }] },
        analysis: { interval: "1s", stepWeight: 25 },
      }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    const weights = async () => {
      const vs = await admin.get<VirtualService>(RESOURCES.virtualServices, namespace, "db-proxy");
      assert.equal(vs.spec.http, undefined, "no HTTP route for a TCP service");
      assert.equal(vs.spec.tcp?.length, 1);
      assert.deepEqual(vs.spec.tcp?.[0]?.match, [{ port: 5432 }]);
      return vs.spec.tcp?.[0]?.route.map((r) => [r.destination, r.weight]);
    };
    assert.deepEqual(await weights(), [
      [{ host: "db-proxy-primary" }, 100],
      [{ host: "db-proxy-canary" }, 0],
    ]);

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(25)));
    assert.deepEqual(step.requests, { "patch virtualservices": 1 });
    assert.deepEqual(await activities.getRoutes(target), routeTo(25));
    assert.deepEqual(await weights(), [
      [{ host: "db-proxy-primary" }, 75],
      [{ host: "db-proxy-canary" }, 25],
    ]);
  });
});
