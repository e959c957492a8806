/**
 * The controller's Secret informer keeps metadata only, on the real API server as the operator's
 * service account: no Secret's data is in its cache, not even the copy `kubectl apply` keeps in an
 * annotation, while the resourceVersion that tells a change is; a change of the data is seen.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Informer } from "../../src/controller/informer.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { waitFor } from "../harness/process.ts";
import { admin, operatorClient, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("informer-metadata");
const informers: Informer[] = [];
after(async () => {
  await Promise.all(informers.map((i) => i.stop()));
});

const token = Buffer.from("s3cr3t-token").toString("base64");
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration";

/** A Secret as `kubectl apply` leaves it: its data, and the whole object again in an annotation. */
function applied(name: string, value: string) {
  const body = { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, data: { token: value } };
  return {
    ...body,
    metadata: {
      ...body.metadata,
      labels: { app: "web" },
      annotations: { [lastApplied]: JSON.stringify(body) },
    },
  };
}

describe("Informer with metadataOnly", () => {
  it("caches Secrets without their data, and sees the data change", async () => {
    // A namespace without Secrets: the API server lists them as `items: null`.
    const empty = new Informer(operatorClient(), RESOURCES.secrets, {
      namespace,
      metadataOnly: true,
      onChange: () => {},
    });
    informers.push(empty);
    await empty.start();
    assert.equal(empty.synced, true, "an empty list syncs");
    await admin.create(RESOURCES.secrets, namespace, applied("listed", token));
    const events: KubeObject[] = [];
    const informer = new Informer(operatorClient(), RESOURCES.secrets, {
      namespace,
      metadataOnly: true,
      onChange: (o) => events.push(o),
    });
    informers.push(informer);
    await informer.start();
    await admin.create(RESOURCES.secrets, namespace, applied("watched", token));
    await waitFor("the watch event", async () => (informer.get(namespace, "watched") ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const before = informer.get(namespace, "watched")?.metadata?.resourceVersion;
    await admin.mergePatch(RESOURCES.secrets, namespace, "watched", {
      data: { token: Buffer.from("rotated").toString("base64") },
    });
    await waitFor(
      "the change seen",
      async () =>
        informer.get(namespace, "watched")?.metadata?.resourceVersion !== before ? true : undefined,
      { timeoutMs: 10_000, intervalMs: 50 },
    );

    for (const name of ["listed", "watched"]) {
      const cached = informer.get(namespace, name);
      assert.ok(cached, name);
      assert.equal(cached.kind, "PartialObjectMetadata", name);
      assert.equal(cached.data, undefined, `${name}: data in the cache`);
      assert.deepEqual(cached.metadata?.labels, { app: "web" }, `${name}: labels are kept`);
      assert.equal(cached.metadata?.annotations?.[lastApplied], undefined, `${name}: the applied copy`);
    }
    const everything = JSON.stringify([...informer.list(namespace), ...events]);
    assert.doesNotMatch(everything, new RegExp(token), "the Secret's data reached the informer");
  });
});
