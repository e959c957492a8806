/**
 * A target scaled by a KEDA ScaledObject through a whole rollout, with the operator as its own
 * process. The test world has KEDA's CRD but no KEDA controller, so what is checked is what the
 * operator writes (docs/keda.md): the primary's `-primary` ScaledObject with the primary's
 * queries, and the target's ScaledObject paused at zero replicas whenever the canary is at zero,
 * resumed while the new revision is analysed. The primary's is copied again at the promotion.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import { PAUSED_REPLICAS_ANNOTATION, type ScaledObject } from "../../activities/keda.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  deployment,
  testNamespace,
  watchWithoutGaps,
} from "../activities/kube-support.ts";
import { setImage } from "../activities/rollout-support.ts";
import { waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-keda");
let operator: OperatorProcess | undefined;

before(async () => {
  operator = await startOperator("keda", operatorGroup(), ["--namespace", namespace]);
});

after(async () => {
  await operator?.stop();
});

const scaledObject = (name: string) => admin.get<ScaledObject>(RESOURCES.scaledObjects, namespace, name);
const replicas = async (name: string) =>
  (await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name)).spec?.replicas;

interface PauseRecorder {
  readonly states: string[];
  /** Waits (briefly: the watch trails the API by milliseconds) until the states are `expected`. */
  reach(expected: readonly string[], why: string): Promise<void>;
  stop(): Promise<void>;
}

/** The pause annotation of a ScaledObject as it changes ("resumed" when absent), in order. */
function recordPauses(name: string): PauseRecorder {
  const states: string[] = [];
  const stop = new AbortController();
  const watching = watchWithoutGaps<ScaledObject>(
    RESOURCES.scaledObjects,
    namespace,
    { fieldSelector: `metadata.name=${name}` },
    (type, object) => {
      if (type === "DELETED") return;
      const state = object.metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION] ?? "resumed";
      if (states.at(-1) !== state) states.push(state);
    },
    stop.signal,
  );
  return {
    states,
    reach: async (expected, why) => {
      const seen = () => JSON.stringify(states) === JSON.stringify(expected);
      await waitFor(why, async () => (seen() ? true : undefined), { timeoutMs: 5000, intervalMs: 20 }).catch(
        () => assert.deepEqual(states, expected, why),
      );
    },
    stop: async () => {
      stop.abort();
      await watching;
    },
  };
}

describe("a Deployment scaled by a KEDA ScaledObject", () => {
  it("initialized, analysed and promoted: the primary's ScaledObject, the target's paused, resumed, paused again", async () => {
    const name = "orders";
    const primaryQuery = `sum(rate(http_requests_total{app="${name}-primary"}[30s]))`;
    await createAvailable(deployment(namespace, name, 2));
    await admin.create(RESOURCES.scaledObjects, namespace, {
      metadata: { name: `${name}-so` },
      spec: {
        scaleTargetRef: { name },
        minReplicaCount: 2,
        maxReplicaCount: 4,
        triggers: [
          {
            type: "prometheus",
            name: "rps",
            metadata: {
              serverAddress: "http://prometheus:9090",
              query: `sum(rate(http_requests_total{app="${name}"}[30s]))`,
              threshold: "5",
            },
          },
        ],
      },
    });
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name, namespace },
      spec: canarySpec(name, {
        autoscalerRef: {
          apiVersion: "keda.sh/v1alpha1",
          kind: "ScaledObject",
          name: `${name}-so`,
          primaryScalerQueries: { rps: primaryQuery },
        },
        analysis: { interval: "1s", threshold: 1, stepWeight: 50, maxWeight: 50 },
      }),
    });

    const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    const primary = await scaledObject(`${name}-so-primary`);
    assert.equal(primary.spec?.scaleTargetRef?.name, `${name}-primary`);
    assert.deepEqual(
      primary.spec?.triggers?.map((t) => [t.name, t.metadata?.query]),
      [["rps", primaryQuery]],
    );
    assert.equal(primary.metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION], undefined, "never paused");
    assert.equal(primary.metadata?.ownerReferences?.[0]?.kind, "Canary");
    assert.equal(
      (await scaledObject(`${name}-so`)).metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION],
      "0",
      "the target's ScaledObject holds the canary at zero",
    );
    assert.equal(await replicas(name), 0);

    const pauses = recordPauses(`${name}-so`);
    await waitFor("the ScaledObject is watched", async () => (pauses.states.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    // The user edits the target's ScaledObject: the primary's follows at the promotion, not before.
    await admin.mergePatch(RESOURCES.scaledObjects, namespace, `${name}-so`, {
      spec: { maxReplicaCount: 5 },
    });
    await setImage(namespace, name, "example.test/app:2");
    const analysed = await statusWhere(
      namespace,
      name,
      "the canary at 50%",
      (s) => s.phase === "Progressing" && s.canaryWeight === 50,
    );
    assert.equal(analysed.canaryWeight, 50);
    assert.equal(await replicas(name), 2, "scaled up to the ScaledObject's minReplicaCount");
    await pauses.reach(["0", "resumed"], "resumed for the analysis");
    assert.equal((await scaledObject(`${name}-so-primary`)).spec?.maxReplicaCount, 4);

    await statusWhere(
      namespace,
      name,
      "Succeeded with the new revision",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
    );
    const down = async () => ((await replicas(name)) === 0 ? true : undefined);
    await waitFor("the canary scaled to zero", down, { timeoutMs: 10_000 });
    await pauses.reach(["0", "resumed", "0"], "paused again once the canary is down");
    await pauses.stop();
    const promoted = await scaledObject(`${name}-so-primary`);
    assert.equal(promoted.spec?.scaleTargetRef?.name, `${name}-primary`);
    assert.equal(promoted.spec?.maxReplicaCount, 5, "copied again at the promotion");
    assert.deepEqual(
      promoted.spec?.triggers?.map((t) => t.metadata?.query),
      [primaryQuery],
    );
  });
});
