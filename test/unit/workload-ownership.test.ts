/**
 * checkWritable, the ownership check before the operator's first write to a generated object:
 * which existing objects it takes as the Canary's, which it refuses, and when it waits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ManagedFieldsEntry, V1OwnerReference } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { checkWritable } from "../../activities/ownership.ts";
import type { KubeClient } from "../../src/kube/client.ts";

const kube = { fieldManager: "durable-canary" } as KubeClient;
const owner = { name: "web", uid: "uid-web" };
const what = { kind: "Deployment", namespace: "shop", name: "web-primary" };

function object(ownerReferences: V1OwnerReference[] = [], managedFields: V1ManagedFieldsEntry[] = []) {
  return { metadata: { name: "web-primary", ownerReferences, managedFields } };
}

function canaryRef(name: string, uid: string, controller: boolean): V1OwnerReference {
  return { apiVersion: "flagger.app/v1beta1", kind: "Canary", name, uid, controller };
}

function check(existing: ReturnType<typeof object> | undefined, shared = false): unknown {
  try {
    checkWritable(kube, existing, what, owner, { fix: "delete it, or rename the target", shared });
    return undefined;
  } catch (err) {
    return err;
  }
}

function assertRefused(err: unknown): void {
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, "InvalidSpec");
  assert.equal(
    err.message,
    "Deployment shop/web-primary exists and is not owned by Canary shop/web: delete it, or rename the target",
  );
}

describe("checkWritable", () => {
  it("takes an absent object, or one this Canary owns", () => {
    assert.equal(check(undefined), undefined);
    assert.equal(check(object([canaryRef("web", "uid-web", true)])), undefined);
  });

  it("refuses an object someone else made, even one the operator later patched", () => {
    assertRefused(check(object([], [{ manager: "kubectl-client-side-apply", operation: "Update" }])));
    assertRefused(check(object([], [{ manager: "durable-canary", operation: "Update" }])));
    assertRefused(
      check(object([{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "x", uid: "u", controller: true }])),
    );
  });

  it("takes an unowned object the operator created (its adoption was interrupted)", () => {
    assert.equal(check(object([], [{ manager: "durable-canary", operation: "Apply" }])), undefined);
  });

  it("shares a config copy with other Canaries, but not a workload", () => {
    const other = object([canaryRef("api", "uid-api", false)]);
    assert.equal(check(other, true), undefined);
    assertRefused(check(other));
  });

  it("waits (retryably) while a deleted Canary of the same name still owns it", () => {
    const err = check(object([canaryRef("web", "uid-old", true)]));
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.nonRetryable, false);
    assert.match(
      err.message,
      /still belongs to a deleted Canary shop\/web: waiting for the garbage collector/,
    );
  });
});
