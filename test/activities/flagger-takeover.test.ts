/**
 * Taking over Canaries Flagger initialized: the test writes every object as Flagger leaves it
 * (the target scaled to zero, the `-primary` Deployment and its config copy owned by the Canary,
 * the three Services, the HTTPRoute, Flagger's status), then runs initialize as the operator's
 * service account. Adopted Canaries cost no write to the primary, the route, the Services or the
 * target; one Flagger left mid-rollout gets its traffic back on the primary and its canary scaled
 * down, and the revision is reported rolled back instead of rolled out again.
 *
 * Then phase by phase, in Flagger's most common setup (Istio, a target with an HPA) and for
 * blue/green: each row of docs/migrating-from-flagger.md's table, with the exact writes counted
 * and every other object's resourceVersion unchanged.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { V1Deployment, V1Service, V2HorizontalPodAutoscaler } from "@kubernetes/client-node";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { FLAGGER_PROMOTED, flaggerLeaves, type Scene, versions as versionsIn } from "./flagger-scene.ts";
import { admin, operatorActivities, testNamespace } from "./kube-support.ts";

const namespace = testNamespace("flagger-takeover");

const versions = (name: string) => versionsIn(namespace, name);

function writes(requests: Record<string, number>): string[] {
  return Object.keys(requests).filter((key) => !/^(get|list|watch) /.test(key));
}

describe("taking over from Flagger", () => {
  it("adopts a promoted Canary at the target's revision without a single write", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "web",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:1",
      phase: "Succeeded",
      canaryWeight: 0,
    });
    const before = await versions("web");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    console.log(`takeover: ${JSON.stringify(requests)}`);
    assert.deepEqual(result, { primaryRevision: target.revision });
    assert.deepEqual(writes(requests), [], "initialize wrote nothing");
    assert.deepEqual(await versions("web"), before, "no object changed");

    // Flagger's tooling reads these fields: initialize leaves them as Flagger wrote them.
    const canary = await admin.get<{ status?: Record<string, unknown> }>(
      RESOURCES.canaries,
      namespace,
      "web",
    );
    assert.equal(canary.status?.phase, "Succeeded");
    assert.equal(canary.status?.lastPromotedSpec, FLAGGER_PROMOTED);

    // The next change of the target is promoted as ours, over Flagger's primary.
    await admin.jsonPatch(RESOURCES.deployments, namespace, "web", [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "example.test/app:2" },
    ]);
    await activities.promote(target);
    const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "web-primary");
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:2");
    assert.equal(
      primary.spec?.template.spec?.containers[0]?.env?.[0]?.valueFrom?.configMapKeyRef?.name,
      "web-config-primary",
    );
    assert.match(
      primary.spec?.template.metadata?.annotations?.["durable-canary.io/revision"] ?? "",
      /^[0-9a-f]{16}$/,
    );
    assert.equal(primary.metadata?.ownerReferences?.length, 1, "still owned by the Canary alone");
    // Fields only Flagger's copy had went with the first promotion: the primary is the target's copy.
    assert.equal(primary.spec?.template.metadata?.annotations?.["flagger-id"], undefined);
    const flaggers = primary.metadata?.managedFields?.filter(
      (e) => e.manager === "flagger" && !e.subresource,
    );
    assert.equal(
      JSON.stringify(flaggers).includes("f:template"),
      false,
      "the pod template Flagger wrote is the operator's now",
    );
  });

  it("drops at the next write what only Flagger's writes held: a Service's old port, an HPA's old label", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "moved",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:1",
      phase: "Succeeded",
      canaryWeight: 0,
      autoscaler: true,
    });
    const { activities } = operatorActivities();
    await activities.initialize(target);
    // The user drops a label from the target's HPA and raises its bound; the Canary moves its port.
    await admin.jsonPatch(RESOURCES.horizontalPodAutoscalers, namespace, "moved", [
      { op: "remove", path: "/metadata/labels/team" },
      { op: "replace", path: "/spec/maxReplicas", value: 5 },
    ]);
    const moved: Target = {
      ...target,
      spec: { ...target.spec, service: { ...target.spec.service, port: 8080 } },
    };
    await activities.promote(moved);

    const hpa = await admin.get<V2HorizontalPodAutoscaler>(
      RESOURCES.horizontalPodAutoscalers,
      namespace,
      "moved-primary",
    );
    assert.equal(hpa.spec?.maxReplicas, 5);
    assert.equal(hpa.metadata?.labels?.team, undefined, "the label only Flagger's copy held is gone");
    for (const service of ["moved-primary", "moved-canary"]) {
      const ports = (await admin.get<V1Service>(RESOURCES.services, namespace, service)).spec?.ports;
      assert.deepEqual(
        ports?.map((p) => p.port),
        [8080],
        `${service}: Flagger's port 80 went with the first write`,
      );
    }
  });

  it("reports a target Flagger never rolled out as a new revision, still without a write", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "api",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:2",
      phase: "Succeeded",
      canaryWeight: 0,
    });
    const before = await versions("api");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    assert.deepEqual(result, { primaryRevision: FLAGGER_PROMOTED }, "the primary runs what Flagger promoted");
    assert.notEqual(result.primaryRevision, target.revision, "so the workflow rolls the target out");
    assert.deepEqual(writes(requests), []);
    assert.deepEqual(await versions("api"), before);
  });

  it("keeps a revision Flagger rolled back failed, without a write", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "failed",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:2",
      phase: "Failed",
      canaryWeight: 0,
    });
    const before = await versions("failed");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    assert.equal(result.primaryRevision, FLAGGER_PROMOTED);
    assert.equal(result.rolledBack?.revision, target.revision);
    assert.match(result.rolledBack?.reason ?? "", /Flagger had rolled this revision back/);
    assert.deepEqual(writes(requests), []);
    assert.deepEqual(await versions("failed"), before);
  });

  it("rolls back a Canary Flagger left mid-rollout: primary untouched, traffic back, canary scaled down", async () => {
    const target = await flaggerLeaves({
      namespace,
      name: "mid",
      primaryImage: "example.test/app:1",
      targetImage: "example.test/app:2",
      phase: "Progressing",
      canaryWeight: 30,
    });
    const before = await versions("mid");
    const { kube, activities } = operatorActivities();
    const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
    console.log(`mid-rollout takeover: ${JSON.stringify(requests)}`);
    assert.equal(result.primaryRevision, FLAGGER_PROMOTED);
    assert.equal(result.rolledBack?.revision, target.revision);
    assert.match(result.rolledBack?.reason ?? "", /taken over from Flagger mid-rollout/);
    assert.deepEqual(await activities.getRoutes(target), {
      primaryWeight: 100,
      canaryWeight: 0,
      mirror: false,
    });
    const after = await versions("mid");
    assert.equal(after.primary, before.primary, "the primary was not touched");
    for (const key of ["apex", "primaryService", "canaryService", "configCopy"] as const)
      assert.equal(after[key], before[key], `${key} was not touched`);
    const scaled = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, "mid");
    assert.equal(scaled.spec?.replicas, 0, "the canary is scaled to zero");
    assert.deepEqual(writes(requests).sort(), ["patch deployments", "patch httproutes"]);
    assert.equal(requests["patch deployments"], 1, "only the target's scale-down");
    assert.equal(requests["patch httproutes"], 1, "only the route back to the primary");
  });
});

interface Case {
  readonly title: string;
  readonly scene: Omit<Scene, "namespace">;
  /** The revision initialize reports the primary runs: the target's (adopted as promoted) or Flagger's. */
  readonly primary: "target" | "flagger";
  /** The reason the target's revision is reported rolled back, if it is. */
  readonly rolledBack?: RegExp;
  /** Every write initialize makes, counted by request. */
  readonly writes: Readonly<Record<string, number>>;
  /** The objects those writes (and the controllers reacting to them) change: every other is left as it was. */
  readonly changed: readonly string[];
}

const v1 = "example.test/app:1";
const v2 = "example.test/app:2";
const v3 = "example.test/app:3";
/** Flagger's most common setup: Istio routing, and a target scaled by an HPA. */
const istio = { provider: "istio", autoscaler: true } as const;
const midRollout = /taken over from Flagger mid-rollout/;
/** Traffic back to the primary, then the canary scaled down: the rollback's two writes. */
const rollback = { "patch virtualservices": 1, "patch deployments": 1 };
/**
 * What Flagger makes only once the primary is ready, each an apply and the owner reference: the
 * primary's HPA, the apex Service, the two DestinationRules and the VirtualService.
 */
const creates = {
  "patch horizontalpodautoscalers": 2,
  "patch services": 2,
  "patch destinationrules": 4,
  "patch virtualservices": 2,
};
/** Scaling the target down also wakes the HPA controller, which records it on the target's HPA. */
const scaledDown = ["target", "autoscaler"];

const cases: readonly Case[] = [
  {
    title: "Initialized, target unchanged: adopted without a write",
    scene: {
      ...istio,
      name: "initialized",
      phase: "Initialized",
      primaryImage: v1,
      targetImage: v1,
      canaryWeight: 0,
    },
    primary: "target",
    writes: {},
    changed: [],
  },
  {
    title: "Succeeded, target unchanged: adopted without a write",
    scene: {
      ...istio,
      name: "succeeded",
      phase: "Succeeded",
      primaryImage: v1,
      targetImage: v1,
      canaryWeight: 0,
    },
    primary: "target",
    writes: {},
    changed: [],
  },
  {
    title: "Waiting at the confirm-rollout gate: a new revision, without a write",
    scene: {
      ...istio,
      name: "waiting",
      phase: "Waiting",
      primaryImage: v1,
      targetImage: v2,
      canaryWeight: 0,
    },
    primary: "flagger",
    writes: {},
    changed: [],
  },
  {
    title: "Progressing at 30 %: rolled back",
    scene: {
      ...istio,
      name: "progressing",
      phase: "Progressing",
      primaryImage: v1,
      targetImage: v2,
      canaryWeight: 30,
    },
    primary: "flagger",
    rolledBack: midRollout,
    writes: rollback,
    changed: ["virtualService", ...scaledDown],
  },
  {
    title: "WaitingPromotion at the maximum weight (0 in Flagger's status): rolled back",
    scene: {
      ...istio,
      name: "waiting-promotion",
      phase: "WaitingPromotion",
      primaryImage: v1,
      targetImage: v2,
      canaryWeight: 60,
    },
    primary: "flagger",
    rolledBack: midRollout,
    writes: rollback,
    changed: ["virtualService", ...scaledDown],
  },
  {
    title: "Promoting, the target copied to the primary: adopted as promoted, traffic back, canary down",
    scene: {
      ...istio,
      name: "promoting",
      phase: "Promoting",
      primaryImage: v2,
      targetImage: v2,
      canaryWeight: 60,
    },
    primary: "target",
    writes: rollback,
    changed: ["virtualService", ...scaledDown],
  },
  {
    title: "Promoting, the target changed after the copy: rolled back",
    scene: {
      ...istio,
      name: "promoting-changed",
      phase: "Promoting",
      primaryImage: v2,
      targetImage: v3,
      canaryWeight: 60,
    },
    primary: "flagger",
    rolledBack: midRollout,
    writes: rollback,
    changed: ["virtualService", ...scaledDown],
  },
  {
    title: "Finalising, traffic already on the copied primary: adopted as promoted, canary down",
    scene: {
      ...istio,
      name: "finalising",
      phase: "Finalising",
      primaryImage: v2,
      targetImage: v2,
      canaryWeight: 0,
    },
    primary: "target",
    writes: { "patch deployments": 1 },
    changed: scaledDown,
  },
  {
    title: "Finalising, the target changed after the copy: rolled back",
    scene: {
      ...istio,
      name: "finalising-changed",
      phase: "Finalising",
      primaryImage: v2,
      targetImage: v3,
      canaryWeight: 0,
    },
    primary: "flagger",
    rolledBack: midRollout,
    writes: { "patch deployments": 1 },
    changed: scaledDown,
  },
  {
    title: "blue/green on plain Kubernetes at iteration 2 of 5 (weight 0, canary up): rolled back",
    scene: {
      name: "blue-green",
      provider: "kubernetes",
      blueGreen: { iterations: 5, done: 2 },
      phase: "Progressing",
      primaryImage: v1,
      targetImage: v2,
      canaryWeight: 0,
    },
    primary: "flagger",
    rolledBack: midRollout,
    writes: { "patch deployments": 1 },
    changed: ["target"],
  },
  {
    title: "blue/green on Istio past its last iteration (all traffic on the canary): rolled back",
    scene: {
      ...istio,
      name: "blue-green-switched",
      blueGreen: { iterations: 3, done: 4 },
      phase: "Progressing",
      primaryImage: v1,
      targetImage: v2,
      canaryWeight: 100,
    },
    primary: "flagger",
    rolledBack: midRollout,
    writes: rollback,
    changed: ["virtualService", ...scaledDown],
  },
  {
    title: "Initializing with a ready primary: adopted, and what Flagger had not made yet is made",
    scene: {
      ...istio,
      name: "initializing",
      phase: "Initializing",
      primaryImage: v1,
      targetImage: v1,
      canaryWeight: 0,
    },
    primary: "target",
    writes: { ...creates, "patch deployments": 1 },
    changed: ["apex", "virtualService", "primaryRule", "canaryRule", "primaryAutoscaler", ...scaledDown],
  },
  {
    title: "Initializing with a primary that never became ready: applied again from the target",
    scene: {
      ...istio,
      name: "initializing-unready",
      phase: "Initializing",
      primaryReady: false,
      primaryImage: v1,
      targetImage: v1,
      canaryWeight: 0,
    },
    primary: "target",
    // As for a new Canary: the config copy and the primary applied (each after taking over the
    // fields Flagger wrote on it), the tracked configs recorded.
    writes: { ...creates, "patch configmaps": 2, "patch deployments": 3, "patch canaries/status": 1 },
    changed: [
      "primary",
      "configCopy",
      "apex",
      "virtualService",
      "primaryRule",
      "canaryRule",
      "primaryAutoscaler",
      ...scaledDown,
    ],
  },
];

describe("taking over from Flagger, phase by phase", () => {
  const scenes = new Map<string, { target: Target; before: Record<string, string | undefined> }>();
  before(async () => {
    // All at once: the HPA controller first records a new HPA up to 15 s after it appears.
    await Promise.all(
      cases.map(async ({ scene }) => {
        const target = await flaggerLeaves({ ...scene, namespace });
        scenes.set(scene.name, { target, before: await versions(scene.name) });
      }),
    );
  });

  for (const c of cases) {
    it(c.title, async () => {
      const name = c.scene.name;
      const scene = scenes.get(name);
      assert.ok(scene, `scene ${name} set up`);
      const { target, before } = scene;
      const { kube, activities } = operatorActivities();
      const { result, requests } = await kube.counter.measure(() => activities.initialize(target));
      console.log(`${name}: ${JSON.stringify(requests)}`);

      assert.equal(result.primaryRevision, c.primary === "target" ? target.revision : FLAGGER_PROMOTED);
      if (c.rolledBack) {
        assert.equal(result.rolledBack?.revision, target.revision);
        assert.match(result.rolledBack?.reason ?? "", c.rolledBack);
      } else assert.equal(result.rolledBack, undefined);
      assert.deepEqual(
        Object.fromEntries(writes(requests).map((key) => [key, requests[key]])),
        c.writes,
        "exactly the writes needed",
      );

      const after = await versions(name);
      for (const key of Object.keys(before).filter((k) => !c.changed.includes(k)))
        assert.equal(after[key], before[key], `${key} was not touched`);
      assert.deepEqual(await activities.getRoutes(target), {
        primaryWeight: 100,
        canaryWeight: 0,
        mirror: false,
      });
      const scaled = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
      assert.equal(scaled.spec?.replicas, 0, "the canary is scaled to zero");
    });
  }
});
