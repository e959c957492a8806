/**
 * A Knative Service target against the real API server, as the operator's service account. No
 * Knative controller runs here: the test plays its part, creating each Revision and writing the
 * Service's and the Revisions' status as Knative would. Initialize pins the ready revision and
 * creates nothing; a new revision is the canary, ready when its Revision says so; steps move
 * `spec.traffic`; promotion pins the new revision; a rollback puts everything back on the primary;
 * finalize gives the Service its traffic back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { kubeAnalysisResources } from "../../activities/analysis-resources.ts";
import { PRIMARY_REVISION_ANNOTATION } from "../../activities/routing/knative.ts";
import { CANARY_FINALIZER } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import { split } from "./knative-support.ts";
import { admin, canarySpec, createCanary, operatorActivities, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("workload-knative");

interface Service {
  metadata: { annotations?: Record<string, string>; finalizers?: string[] };
  spec: { traffic?: Record<string, unknown>[] };
}

const ready = (status: boolean) => ({
  conditions: [
    status
      ? { type: "Ready", status: "True" }
      : { type: "Ready", status: "Unknown", reason: "Deploying", message: "waiting for pods" },
  ],
});

/** What Knative does for a new template: a Revision, then the Service's status naming it. */
async function createRevision(service: string, revision: string, isReady: boolean): Promise<void> {
  await admin.create(RESOURCES.knativeRevisions, namespace, {
    metadata: { name: revision, labels: { "serving.knative.dev/service": service } },
    spec: { containers: [{ image: `example.test/${revision}` }] },
  });
  await setRevisionReady(revision, isReady);
  await admin.mergePatch(
    RESOURCES.knativeServices,
    namespace,
    service,
    { status: { latestCreatedRevisionName: revision, ...ready(true) } },
    "status",
  );
}

async function setRevisionReady(revision: string, isReady: boolean): Promise<void> {
  await admin.mergePatch(
    RESOURCES.knativeRevisions,
    namespace,
    revision,
    { status: ready(isReady) },
    "status",
  );
}

const get = (name: string) => admin.get<Service>(RESOURCES.knativeServices, namespace, name);

async function knativeCanary(name: string): Promise<Target> {
  await admin.create(RESOURCES.knativeServices, namespace, {
    metadata: { name },
    spec: { template: { spec: { containers: [{ image: "example.test/hello:1" }] } } },
  });
  await createRevision(name, `${name}-00001`, true);
  return createCanary(
    namespace,
    name,
    canarySpec(name, {
      provider: "knative",
      targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name },
      revertOnDeletion: true,
    }),
  );
}

/** The retryable "not ready yet" an activity answers while Temporal should try again. */
function retryable(pattern: RegExp) {
  return (err: unknown) =>
    err instanceof ApplicationFailure && !err.nonRetryable && pattern.test(err.message);
}

describe("a Knative Service target", () => {
  it("initializes without a primary, rolls a new revision out, promotes it and rolls the next back", async () => {
    const target = await knativeCanary("hello");
    const { kube, activities } = operatorActivities();

    const init = await activities.initialize(target);
    assert.deepEqual(init, { primaryRevision: "hello-00001" });
    let hello = await get("hello");
    assert.equal(hello.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], "hello-00001");
    assert.deepEqual(hello.spec.traffic, split(0, "hello-00001"));
    const nothingCreated = await Promise.all([
      kube.find(RESOURCES.deployments, namespace, "hello-primary"),
      kube.find(RESOURCES.deployments, namespace, "hello"),
      kube.find(RESOURCES.services, namespace, "hello-primary"),
      kube.find(RESOURCES.services, namespace, "hello-canary"),
    ]);
    assert.deepEqual(nothingCreated, [undefined, undefined, undefined, undefined], "no primary, no Services");
    assert.deepEqual(
      (await kube.list(RESOURCES.deployments, namespace)).items,
      [],
      "no workload of any name is created",
    );
    assert.deepEqual(await activities.initialize(target), init, "initialize again changes nothing");

    // A new template: Knative creates hello-00002, not ready yet.
    await createRevision("hello", "hello-00002", false);
    const analysis = kubeAnalysisResources(kube.kubeConfig);
    assert.equal(
      await analysis.latestKnativeRevision(namespace, "hello"),
      "hello-00002",
      "builtin metrics' route",
    );
    const rollout: Target = { ...target, revision: "hello-00002" };
    assert.deepEqual(await activities.stepReadiness(rollout), {
      canary: {
        ready: false,
        message: `Knative Revision ${namespace}/hello-00002 (the canary) is not ready: Deploying: waiting for pods`,
      },
      primary: { ready: true, message: "the primary is ready" },
    });
    await assert.rejects(
      activities.waitCanaryReady(rollout, { deadlineAtMs: Date.now() + 60_000 }),
      retryable(/hello-00002 \(the canary\) is not ready: Deploying/),
    );
    await assert.rejects(
      activities.waitCanaryReady(rollout, { deadlineAtMs: Date.now() - 1 }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === NON_RETRYABLE_ERRORS.deadlineExceeded &&
        /no progress within progressDeadlineSeconds \(60s\)/.test(err.message),
    );
    await setRevisionReady("hello-00002", true);
    await activities.waitCanaryReady(rollout, { deadlineAtMs: Date.now() + 60_000 });

    const scaled = await kube.counter.measure(() => activities.scaleCanary(rollout, "desired"));
    assert.equal(scaled.total, 0, "Knative scales revisions itself");

    for (const weight of [20, 40]) {
      await activities.setRoutes(rollout, routeTo(weight));
      assert.deepEqual((await get("hello")).spec.traffic, split(weight, "hello-00001"));
      assert.deepEqual(await activities.getRoutes(rollout), routeTo(weight));
    }

    await activities.promote(rollout);
    hello = await get("hello");
    assert.equal(hello.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], "hello-00002", "the new primary");
    assert.deepEqual(hello.spec.traffic, split(40, "hello-00002"), "the weights hold, on the new primary");
    await activities.promote(rollout);
    assert.deepEqual((await get("hello")).spec.traffic, split(40, "hello-00002"), "promote again: the same");
    await activities.setRoutes(rollout, PRIMARY_ONLY);
    assert.deepEqual((await get("hello")).spec.traffic, split(0, "hello-00002"));

    // The next revision fails its analysis: the rollback leaves everything on hello-00002.
    await createRevision("hello", "hello-00003", true);
    const failing: Target = { ...target, revision: "hello-00003" };
    assert.equal((await activities.stepReadiness(failing)).canary.ready, true);
    await activities.setRoutes(failing, routeTo(50));
    assert.deepEqual((await get("hello")).spec.traffic, split(50, "hello-00002"));
    await activities.setRoutes(failing, PRIMARY_ONLY);
    hello = await get("hello");
    assert.deepEqual(hello.spec.traffic, split(0, "hello-00002"), "all on the primary revision");
    assert.equal(hello.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], "hello-00002");
    assert.deepEqual(await activities.primaryReadiness(failing), {
      ready: true,
      message: "the primary is ready",
    });

    await activities.finalize(failing, true);
    hello = await get("hello");
    assert.equal(hello.spec.traffic, undefined, "the traffic the Service had: none, Knative's default");
    assert.equal(hello.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], undefined);
    const canary = await admin.get<Service>(RESOURCES.canaries, namespace, "hello");
    assert.ok(!canary.metadata.finalizers?.includes(CANARY_FINALIZER), "the finalizer is removed");
  });

  it("waits for the primary revision to be ready, and says which one", async () => {
    await admin.create(RESOURCES.knativeServices, namespace, {
      metadata: { name: "slow" },
      spec: { template: { spec: { containers: [{ image: "example.test/slow:1" }] } } },
    });
    await createRevision("slow", "slow-00001", false);
    const target = await createCanary(
      namespace,
      "slow",
      canarySpec("slow", {
        provider: "knative",
        targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "slow" },
      }),
    );
    const { activities } = operatorActivities();
    await assert.rejects(
      activities.initialize(target),
      retryable(/Knative Revision .*\/slow-00001 \(the primary\) is not ready: Deploying/),
    );
    await setRevisionReady("slow-00001", true);
    assert.deepEqual(await activities.initialize(target), { primaryRevision: "slow-00001" });
  });
});
