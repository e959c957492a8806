import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import {
  type CanaryObject,
  problemStatusPatch,
  type ReconcileInput,
  reconcileCanary,
  showsProblem,
  targetRevision,
} from "../../src/controller/reconcile.ts";
import type { ConfigObject } from "../../src/kube/configs.ts";

const target: V1Deployment = {
  metadata: { name: "app", namespace: "web" },
  spec: {
    selector: { matchLabels: { app: "app" } },
    template: {
      metadata: { labels: { app: "app" } },
      spec: {
        containers: [{ name: "app", image: "app:1" }],
        volumes: [{ name: "c", configMap: { name: "settings" } }],
      },
    },
  },
};
const settings: ConfigObject = { metadata: { name: "settings" }, data: { level: "1" } };
const spec = {
  targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "app" },
  service: { port: 80 },
  analysis: { interval: "1m", threshold: 5, stepWeight: 10, maxWeight: 50 },
};

function input(canary: Partial<CanaryObject> & { spec?: unknown }, overrides: Partial<ReconcileInput> = {}) {
  return {
    canary: { metadata: { name: "app", namespace: "web", generation: 3 }, ...canary } as CanaryObject,
    target: (kind: string, name: string) => (kind === "Deployment" && name === "app" ? target : undefined),
    config: (kind: string, name: string) =>
      kind === "ConfigMap" && name === "settings" ? settings : undefined,
    configTracking: true,
    defaults: {},
    policy: { eventWebhook: undefined, crossNamespaceRefs: true },
    nowMs: 1_000_000,
    finalizeTimeoutMs: 60_000,
    ...overrides,
  } satisfies ReconcileInput;
}

describe("reconcileCanary", () => {
  it("sends the revision and generation of a valid Canary", () => {
    const decision = reconcileCanary(input({ spec }));
    assert.equal(decision.kind, "revision");
    if (decision.kind !== "revision") return;
    assert.equal(decision.generation, 3);
    assert.equal(decision.revision, targetRevision(target, input({}).config, true));
    assert.equal(decision.addFinalizer, false);
    assert.equal(decision.resyncStatus, false);
  });

  it("a config change changes the revision; with tracking off it does not", () => {
    const before = targetRevision(target, () => settings, true);
    const changed: ConfigObject = { ...settings, data: { level: "2" } };
    assert.notEqual(
      targetRevision(target, () => changed, true),
      before,
    );
    assert.equal(
      targetRevision(target, () => changed, false),
      targetRevision(target, () => settings, false),
    );
  });

  it("an invalid spec is a problem naming the field", () => {
    const decision = reconcileCanary(input({ spec: { ...spec, analysis: { interval: "soon" } } }));
    assert.equal(decision.kind, "problem");
    if (decision.kind !== "problem") return;
    assert.equal(decision.reason, "InvalidSpec");
    assert.match(decision.message, /analysis\.interval must be a duration/);
  });

  it("a missing target is a problem that says what to create", () => {
    const decision = reconcileCanary(
      input({ spec: { ...spec, targetRef: { ...spec.targetRef, name: "nope" } } }),
    );
    assert.deepEqual(
      decision.kind === "problem" && [decision.reason, /Deployment web\/nope/.test(decision.message)],
      ["TargetNotFound", true],
    );
  });

  it("revertOnDeletion asks for the finalizer, once", () => {
    const asked = reconcileCanary(input({ spec: { ...spec, revertOnDeletion: true } }));
    assert.equal(asked.kind === "revision" && asked.addFinalizer, true);
    const present = reconcileCanary(
      input({
        spec: { ...spec, revertOnDeletion: true },
        metadata: { name: "app", namespace: "web", finalizers: ["finalizer.flagger.app"] },
      }),
    );
    assert.equal(present.kind === "revision" && present.addFinalizer, false);
  });

  it("a problem shown in status is cleared through the workflow once it is gone", () => {
    const status = problemStatusPatch(undefined, "TargetNotFound", "gone", "2026-01-01T00:00:00Z");
    const decision = reconcileCanary(input({ spec, status }));
    assert.equal(decision.kind === "revision" && decision.resyncStatus, true);
    assert.equal(showsProblem(status, "TargetNotFound", "gone"), true);
    assert.equal(showsProblem(status, "TargetNotFound", "other"), false);
  });

  it("a deleted Canary with the finalizer is finalized until the timeout, without it nothing is done", () => {
    const deleting = (finalizers: string[]) =>
      reconcileCanary(
        input({
          spec,
          metadata: {
            name: "app",
            namespace: "web",
            finalizers,
            deletionTimestamp: new Date(1_000_000 - 20_000).toISOString(),
          },
        }),
      );
    assert.deepEqual(deleting(["finalizer.flagger.app"]), { kind: "finalize", giveUpInMs: 40_000 });
    assert.deepEqual(deleting([]), { kind: "none" });
  });

  it("--no-cross-namespace-refs refuses templates elsewhere; --event-webhook is added where none is declared", () => {
    const crossing = {
      ...spec,
      analysis: {
        ...spec.analysis,
        metrics: [{ name: "m", templateRef: { name: "t", namespace: "ops" }, thresholdRange: { max: 1 } }],
      },
    };
    const refused = reconcileCanary(
      input({ spec: crossing }, { policy: { eventWebhook: undefined, crossNamespaceRefs: false } }),
    );
    assert.equal(refused.kind, "problem");
    assert.match(
      refused.kind === "problem" ? refused.message : "",
      /analysis\.metrics\[0\]\.templateRef refers to namespace ops/,
    );
    const withHook = reconcileCanary(
      input({ spec }, { policy: { eventWebhook: "http://events.example.test/", crossNamespaceRefs: true } }),
    );
    const hooks = withHook.kind === "revision" ? withHook.spec.analysis.webhooks : [];
    assert.deepEqual(
      hooks.map((w) => [w.type, w.url]),
      [["event", "http://events.example.test/"]],
    );
  });
});
