/** The part of Flagger's managedFields the operator's apply takes over, merged field by field. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { V1ManagedFieldsEntry } from "@kubernetes/client-node";
import {
  CONFIG_FIELDS,
  managedFieldsTakingFlaggers,
  WORKLOAD_FIELDS,
} from "../../activities/flagger-fields.ts";

function entry(
  manager: string,
  operation: string,
  fieldsV1: object,
  subresource?: string,
): V1ManagedFieldsEntry {
  return {
    manager,
    operation,
    apiVersion: "apps/v1",
    fieldsType: "FieldsV1",
    fieldsV1,
    ...(subresource ? { subresource } : {}),
  };
}

const take = (fields: V1ManagedFieldsEntry[], mask = WORKLOAD_FIELDS) =>
  managedFieldsTakingFlaggers(fields, mask, "durable-canary", "apps/v1");

describe("managedFieldsTakingFlaggers", () => {
  test("nothing to do when Flagger owns nothing the operator writes", () => {
    const status = entry("flagger", "Update", { "f:status": {} }, "status");
    const replicas = entry("flagger", "Update", { "f:spec": { "f:replicas": {} } });
    assert.equal(take([entry("durable-canary", "Apply", {}), status, replicas]), undefined);
  });

  test("the pod template, labels and annotations join the operator's apply; replicas and owners stay Flagger's", () => {
    const flagger = entry("flagger", "Update", {
      "f:metadata": { "f:annotations": { "f:example.test/docs": {} }, "f:ownerReferences": { ".": {} } },
      "f:spec": {
        "f:replicas": {},
        "f:template": { "f:metadata": { "f:annotations": { "f:flagger-id": {} } } },
      },
    });
    const ours = entry("durable-canary", "Apply", {
      "f:spec": { "f:template": { "f:spec": { "f:containers": {} } } },
    });
    const scale = entry("kube-controller-manager", "Update", { "f:spec": { "f:replicas": {} } }, "scale");
    const user = entry("kubectl-edit", "Update", { "f:metadata": { "f:labels": { "f:team": {} } } });
    assert.deepEqual(take([flagger, scale, ours, user]), [
      scale,
      user,
      entry("flagger", "Update", {
        "f:metadata": { "f:ownerReferences": { ".": {} } },
        "f:spec": { "f:replicas": {} },
      }),
      entry("durable-canary", "Apply", {
        "f:spec": {
          "f:template": {
            "f:spec": { "f:containers": {} },
            "f:metadata": { "f:annotations": { "f:flagger-id": {} } },
          },
        },
        "f:metadata": { "f:annotations": { "f:example.test/docs": {} } },
      }),
    ]);
  });

  test("a config copy the operator never applied gets an apply entry of its own", () => {
    const flagger = entry("flagger", "Update", { "f:data": { "f:level": {} } });
    assert.deepEqual(managedFieldsTakingFlaggers([flagger], CONFIG_FIELDS, "durable-canary", "v1"), [
      {
        manager: "durable-canary",
        operation: "Apply",
        apiVersion: "v1",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:data": { "f:level": {} } },
      },
    ]);
  });
});
