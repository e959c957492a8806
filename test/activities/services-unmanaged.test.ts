/**
 * `service.unmanagedMetadata`, as Flagger honours it: labels and annotations it names keep the
 * value someone else gave them on the generated Services, even when the Canary sets them too;
 * keys it does not name are put back to the Canary's value when the Services are reconciled.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("services-unmanaged");

describe("service.unmanagedMetadata", () => {
  it("keeps others' values of the keys it names; the Canary's other keys are put back", async () => {
    await createAvailable(deployment(namespace, "shop", 1));
    const target = await createCanary(
      namespace,
      "shop",
      canarySpec("shop", {
        service: {
          port: 80,
          targetPort: 8080,
          canary: {
            labels: { team: "shop", tier: "web" },
            annotations: { "example.test/owner": "shop", "example.test/scrape": "true" },
          },
          unmanagedMetadata: { labels: ["team", "app"], annotations: ["example.test/owner"] },
        },
      }),
    );
    const { activities } = operatorActivities();
    await activities.initialize(target);
    const created = await admin.get<V1Service>(RESOURCES.services, namespace, "shop-canary");
    assert.equal(created.metadata?.labels?.team, "shop", "created with the Canary's values");

    // Someone else changes every key the Canary sets, and the selector label.
    await admin.mergePatch(RESOURCES.services, namespace, "shop-canary", {
      metadata: {
        labels: { team: "platform", tier: "backend", app: "other" },
        annotations: { "example.test/owner": "platform", "example.test/scrape": "false" },
      },
    });
    await activities.promote(target);

    const service = await admin.get<V1Service>(RESOURCES.services, namespace, "shop-canary");
    assert.equal(service.metadata?.labels?.team, "platform", "an unmanaged label keeps its live value");
    assert.equal(service.metadata?.annotations?.["example.test/owner"], "platform", "so does an annotation");
    assert.equal(service.metadata?.labels?.tier, "web", "a managed label is put back");
    assert.equal(
      service.metadata?.annotations?.["example.test/scrape"],
      "true",
      "so is a managed annotation",
    );
    assert.equal(service.metadata?.labels?.app, "shop-canary", "the selector label stays the operator's");
  });
});
