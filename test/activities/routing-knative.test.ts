/**
 * The Knative router against the Knative Serving Service CRD, through the operator's service
 * account: reconcile pins the latest created revision as the primary, once; a step is one read and
 * one apply of `spec.traffic`; blue/green and rollback; finalize gives the Service its traffic
 * back. The router is called directly; workload-knative.test.ts runs it through the activities.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import {
  type KnativeService,
  knativeRouter,
  PRIMARY_REVISION_ANNOTATION,
} from "../../activities/routing/knative.ts";
import type { RouterContext } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { applyDefaults } from "../../src/api/defaults.ts";
import { ORIGINAL_CONFIGURATION_ANNOTATION } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import { createdRevision, knativeService, split } from "./knative-support.ts";
import { admin, canarySpec, operatorClient, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("routing-knative");

type Service = KnativeService & {
  metadata: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: { template?: unknown; traffic?: Record<string, unknown>[] };
};

async function service(name: string): Promise<Service> {
  return admin.get<Service>(RESOURCES.knativeServices, namespace, name);
}

function context(name: string, overrides: Partial<CanarySpec> = {}): RouterContext {
  const targetRef = { apiVersion: "serving.knative.dev/v1", kind: "Service", name } as const;
  return {
    kube: operatorClient(),
    namespace,
    spec: applyDefaults(canarySpec(name, { provider: "knative", targetRef, ...overrides })),
    revision: undefined,
    settings: DEFAULT_WORKLOAD_SETTINGS,
  };
}

/** The Service is never the Canary's: any identity will do. */
const owner = { name: "hello", uid: randomUUID() };

describe("knative router", () => {
  it("pins the primary once, steps with one read and one apply, switches blue/green, and gives the traffic back", async () => {
    await knativeService(namespace, "hello");
    const ctx = context("hello");

    await knativeRouter.reconcile(ctx, owner);
    let hello = await service("hello");
    assert.equal(hello.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], "hello-00001");
    assert.deepEqual(hello.spec.traffic, split(0, "hello-00001"), "all on the primary");
    assert.equal(hello.metadata.labels?.team, "a", "the user's labels stay");
    assert.deepEqual(hello.spec.template, { spec: { containers: [{ image: "example.test/hello:1" }] } });
    assert.deepEqual(await knativeRouter.getRoutes(ctx), PRIMARY_ONLY);

    const again = await ctx.kube.counter.measure(() => knativeRouter.reconcile(ctx, owner));
    assert.deepEqual(again.requests, { "get services": 1 }, "a second reconcile writes nothing");

    // A new template: Knative creates the next revision, the canary.
    await createdRevision(namespace, "hello", "hello-00002");
    const step = await ctx.kube.counter.measure(() => knativeRouter.setRoutes(ctx, routeTo(20)));
    assert.deepEqual(step.requests, { "get services": 1, "patch services": 1 }, "a step is two requests");
    assert.deepEqual((await service("hello")).spec.traffic, split(20, "hello-00001"));
    assert.deepEqual(await knativeRouter.getRoutes(ctx), routeTo(20));

    await knativeRouter.reconcile(ctx, owner);
    assert.deepEqual(await knativeRouter.getRoutes(ctx), routeTo(20), "reconcile keeps the split");
    assert.equal(
      (await service("hello")).metadata.annotations?.[PRIMARY_REVISION_ANNOTATION],
      "hello-00001",
      "reconcile never moves the primary to an unanalysed revision",
    );

    for (const weight of [100, 0]) {
      await knativeRouter.setRoutes(ctx, routeTo(weight));
      assert.deepEqual((await service("hello")).spec.traffic, split(weight, "hello-00001"));
      assert.deepEqual(await knativeRouter.getRoutes(ctx), routeTo(weight));
    }

    await knativeRouter.finalize(ctx, owner);
    hello = await service("hello");
    assert.equal(hello.spec.traffic, undefined, "the traffic the Service had: none, Knative's default");
    assert.equal(hello.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], undefined);
    assert.equal(hello.metadata.annotations?.[ORIGINAL_CONFIGURATION_ANNOTATION], undefined);
    await knativeRouter.finalize(ctx, owner);
  });

  it("gives back traffic the user had set", async () => {
    const original = [
      { latestRevision: true, percent: 90, tag: "latest" },
      { revisionName: "tagged-00001", latestRevision: false, percent: 10, tag: "old" },
    ];
    await knativeService(namespace, "tagged", original);
    const ctx = context("tagged");
    await knativeRouter.reconcile(ctx, owner);
    assert.deepEqual((await service("tagged")).spec.traffic, split(0, "tagged-00001"));
    await knativeRouter.setRoutes(ctx, routeTo(50));
    await knativeRouter.finalize(ctx, owner);
    const tagged = await service("tagged");
    assert.deepEqual(tagged.spec.traffic, original);
    assert.equal(tagged.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], undefined);
  });

  it("waits for a first revision, and refuses what Knative cannot do", async () => {
    await admin.create(RESOURCES.knativeServices, namespace, {
      metadata: { name: "fresh" },
      spec: { template: { spec: { containers: [{ image: "example.test/fresh:1" }] } } },
    });
    await assert.rejects(knativeRouter.reconcile(context("fresh"), owner), /has no revision yet/);
    await assert.rejects(
      knativeRouter.getRoutes(context("fresh")),
      /has no flagger.app\/primary-revision annotation/,
    );
    await assert.rejects(
      knativeRouter.reconcile(
        context("fresh", {
          analysis: { interval: "1s", iterations: 2, match: [{ headers: { x: { exact: "y" } } }] },
        }),
        owner,
      ),
      /the knative provider cannot route by analysis.match/,
    );
    await assert.rejects(
      knativeRouter.setRoutes(
        context("fresh", { analysis: { interval: "1s", stepWeight: 10, mirror: true } }),
        routeTo(10),
      ),
      /the knative provider cannot mirror traffic/,
    );
    await assert.rejects(
      knativeRouter.reconcile(context("missing"), owner),
      /Knative Service .*\/missing \(spec.targetRef\) not found/,
    );
  });
});
