/**
 * A Kubernetes Service target (Flagger's service canary) routed by the Gateway API or Istio, against the
 * real API server as the operator's service account. The user's Service is never written: the
 * operator keeps `-canary` (following the target) and `-primary` (the last promoted spec) copies,
 * each with its own cluster IP and node ports, and the HTTPRoute moves traffic between them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { REVISION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { serviceRevision } from "../../src/kube/service-revision.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import { admin, canarySpec, createCanary, operatorActivities, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("workload-service-target");

const service = (name: string) => admin.get<V1Service>(RESOURCES.services, namespace, name);

interface HttpRoute {
  spec: { rules: { backendRefs: { name: string; port: number; weight: number }[] }[] };
}

function serviceTargetSpec(name: string) {
  return canarySpec(name, {
    targetRef: { apiVersion: "v1", kind: "Service", name },
    service: { port: 80, gatewayRefs: [{ name: "public", namespace: "gateways" }] },
  });
}

describe("Kubernetes Service target", () => {
  it("routes between copies of the user's Service, promotes its spec, and never writes it", async () => {
    await admin.create(RESOURCES.services, namespace, {
      metadata: {
        name: "shop",
        labels: { team: "a" },
        annotations: { "example.test/lb": "internal", "kustomize.toolkit.fluxcd.io/checksum": "x" },
      },
      // NodePort: each copy must get node ports of its own, or the API server refuses it.
      spec: {
        type: "NodePort",
        selector: { app: "shop-blue" },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      },
    });
    const target = await createCanary(namespace, "shop", serviceTargetSpec("shop"));
    const { activities } = operatorActivities();
    const blue = await service("shop");
    const initialized = await activities.initialize(target);
    assert.equal(initialized.primaryRevision, serviceRevision(blue));

    for (const copy of ["shop-primary", "shop-canary"]) {
      const made = await service(copy);
      assert.deepEqual(made.spec?.selector, { app: "shop-blue" }, copy);
      assert.equal(made.spec?.type, "NodePort");
      assert.notEqual(made.spec?.clusterIP, blue.spec?.clusterIP, `${copy} has a cluster IP of its own`);
      assert.notEqual(made.spec?.ports?.[0]?.nodePort, blue.spec?.ports?.[0]?.nodePort);
      assert.equal(made.metadata?.annotations?.["example.test/lb"], "internal");
      assert.equal(made.metadata?.annotations?.["kustomize.toolkit.fluxcd.io/checksum"], undefined);
      assert.equal(made.metadata?.ownerReferences?.[0]?.kind, "Canary");
    }
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    // A new version: the user points the Service at other pods.
    await admin.mergePatch(RESOURCES.services, namespace, "shop", {
      spec: { selector: { app: "shop-green" } },
    });
    const green = await service("shop");
    await activities.scaleCanary(target, "desired");
    assert.deepEqual(
      (await service("shop-canary")).spec?.selector,
      { app: "shop-green" },
      "the canary follows",
    );
    assert.deepEqual(
      (await service("shop-primary")).spec?.selector,
      { app: "shop-blue" },
      "the primary waits",
    );
    const readiness = await activities.stepReadiness(target);
    assert.equal(readiness.canary.ready && readiness.primary.ready, true);
    await activities.waitCanaryReady(target);

    await activities.setRoutes(target, routeTo(30));
    const route = await admin.get<HttpRoute>(RESOURCES.httpRoutes, namespace, "shop");
    assert.deepEqual(
      route.spec.rules[0]?.backendRefs.map((b) => [b.name, b.port, b.weight]),
      [
        ["shop-primary", 80, 70],
        ["shop-canary", 80, 30],
      ],
    );

    const primaryIp = (await service("shop-primary")).spec?.clusterIP;
    await activities.promote(target);
    const promoted = await service("shop-primary");
    assert.deepEqual(promoted.spec?.selector, { app: "shop-green" });
    assert.equal(promoted.spec?.clusterIP, primaryIp, "the primary keeps its address");
    assert.equal(promoted.metadata?.annotations?.[REVISION_ANNOTATION], serviceRevision(green));

    await activities.setRoutes(target, PRIMARY_ONLY);
    await activities.scaleCanary(target, "zero");
    await activities.finalize(target, true);
    assert.equal(
      (await service("shop")).metadata?.resourceVersion,
      green.metadata?.resourceVersion,
      "the user's Service was never written",
    );
  });

  it("with Istio: the VirtualService splits between the copies, and DestinationRules name them", async () => {
    await admin.create(RESOURCES.services, namespace, {
      metadata: { name: "mesh" },
      spec: { selector: { app: "mesh-blue" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    });
    const target = await createCanary(
      namespace,
      "mesh",
      canarySpec("mesh", {
        provider: "istio",
        targetRef: { apiVersion: "v1", kind: "Service", name: "mesh" },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    for (const copy of ["mesh-primary", "mesh-canary"]) {
      assert.deepEqual((await service(copy)).spec?.selector, { app: "mesh-blue" }, copy);
      const rule = await admin.get<{ spec: { host: string } }>(RESOURCES.destinationRules, namespace, copy);
      assert.equal(rule.spec.host, copy);
    }
    await activities.setRoutes(target, routeTo(40));
    const virtualService = await admin.get<{
      spec: { http: { route: { destination: { host: string }; weight: number }[] }[] };
    }>(RESOURCES.virtualServices, namespace, "mesh");
    assert.deepEqual(
      virtualService.spec.http.at(-1)?.route.map((r) => [r.destination.host, r.weight]),
      [
        ["mesh-primary", 60],
        ["mesh-canary", 40],
      ],
    );
    assert.deepEqual(await activities.getRoutes(target), routeTo(40));
    await activities.setRoutes(target, PRIMARY_ONLY);
    await activities.finalize(target, true);
    assert.equal(
      await admin.find(RESOURCES.virtualServices, namespace, "mesh"),
      undefined,
      "finalize removes it",
    );
  });

  it("initialize again keeps the promoted primary; a missing target Service is a non-retryable error", async () => {
    await admin.create(RESOURCES.services, namespace, {
      metadata: { name: "cart" },
      spec: { clusterIP: "None", selector: { app: "cart-v1" }, ports: [{ port: 80 }] },
    });
    const target = await createCanary(namespace, "cart", serviceTargetSpec("cart"));
    const { activities } = operatorActivities();
    const first = await activities.initialize(target);
    assert.equal(
      (await service("cart-primary")).spec?.clusterIP,
      "None",
      "a headless target, a headless copy",
    );

    await admin.mergePatch(RESOURCES.services, namespace, "cart", { spec: { selector: { app: "cart-v2" } } });
    const again = await activities.initialize(target);
    assert.equal(again.primaryRevision, first.primaryRevision);
    assert.deepEqual((await service("cart-primary")).spec?.selector, { app: "cart-v1" });
    assert.deepEqual((await service("cart-canary")).spec?.selector, { app: "cart-v2" });

    const missing = await createCanary(namespace, "gone", serviceTargetSpec("gone"));
    await assert.rejects(activities.initialize(missing), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, NON_RETRYABLE_ERRORS.targetNotFound);
      assert.match(err.message, /Service .*\/gone \(spec.targetRef\) not found: create it/);
      return true;
    });
  });
});
