/**
 * The controller's informer against the real API server, as the operator's service account:
 * it fills its cache, follows changes, and when it may not list (RBAC) it retries with a growing
 * backoff until it may, without a restart.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Informer } from "../../src/controller/informer.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { operatorNamespace, operatorServiceAccount } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { admin, operatorClient, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("informer");
const informers: Informer[] = [];
after(async () => {
  await Promise.all(informers.map((i) => i.stop()));
});

describe("Informer", () => {
  it("lists, then follows additions, changes and deletions", async () => {
    await admin.create(RESOURCES.configMaps, namespace, { metadata: { name: "before" }, data: { a: "1" } });
    const seen: string[] = [];
    const informer = new Informer(operatorClient(), RESOURCES.configMaps, {
      namespace,
      onChange: (o: KubeObject, kind) => seen.push(`${kind} ${o.metadata?.name}`),
    });
    informers.push(informer);
    await informer.start();
    assert.equal(informer.synced, true);
    assert.ok(informer.get(namespace, "before"), "the list filled the cache");
    await admin.create(RESOURCES.configMaps, namespace, { metadata: { name: "after" }, data: { a: "1" } });
    await admin.mergePatch(RESOURCES.configMaps, namespace, "after", { data: { a: "2" } });
    await admin.delete(RESOURCES.configMaps, namespace, "before");
    await waitFor(
      "the watch events",
      async () =>
        ["add after", "update after", "delete before"].every((e) => seen.includes(e)) ? true : undefined,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    assert.equal(informer.get(namespace, "before"), undefined);
    assert.equal((informer.get(namespace, "after") as { data?: { a?: string } }).data?.a, "2");
  });

  it("retries a forbidden list with a growing backoff and syncs once RBAC allows it", async () => {
    const retries: number[] = [];
    const informer = new Informer(operatorClient(), RESOURCES.leases, {
      namespace,
      onChange: () => {},
      onError: (_err, retryInMs) => retries.push(retryInMs),
    });
    informers.push(informer);
    await informer.start();
    assert.equal(informer.synced, false);
    await waitFor("two retries", async () => (retries.length >= 2 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    assert.deepEqual(retries.slice(0, 2), [1000, 2000]);
    await admin.create(
      { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", kind: "Role" },
      namespace,
      {
        metadata: { name: "read-leases" },
        rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["list", "watch"] }],
      },
    );
    await admin.create(
      { group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", kind: "RoleBinding" },
      namespace,
      {
        metadata: { name: "read-leases" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-leases" },
        subjects: [{ kind: "ServiceAccount", name: operatorServiceAccount, namespace: operatorNamespace }],
      },
    );
    await informer.whenSynced();
    assert.equal(informer.synced, true);
  });
});
