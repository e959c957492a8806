/**
 * End to end, the operator's own failures: SIGKILLed mid-rollout and restarted, and two
 * replicas of which one leads and the other takes over when the leader dies. Either way the
 * rollout finishes with every weight step once. Also 50 Canaries created at once.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage } from "../activities/rollout-support.ts";
import { operatorNamespace } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { statusWhere } from "./support.ts";

const started: OperatorProcess[] = [];
after(async () => {
  await Promise.all(started.map((o) => o.stop("SIGKILL")));
});

async function start(name: string, group: ReturnType<typeof operatorGroup>, namespace: string) {
  const operator = await startOperator(name, group, ["--namespace", namespace]);
  started.push(operator);
  return operator;
}

const steps = {
  provider: "gatewayapi:v1",
  analysis: { interval: "2s", threshold: 2, stepWeight: 20, maxWeight: 80 },
} as const;

/** Creates a canary, waits for Initialized, starts recording its weights and changes its image. */
async function rolloutOf(namespace: string, name: string) {
  await createAvailable(deployment(namespace, name, 1));
  await admin.create(RESOURCES.canaries, namespace, {
    metadata: { name, namespace },
    spec: canarySpec(name, steps),
  });
  const first = await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
  const route = recordCanaryWeights(namespace, name, admin);
  await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
    timeoutMs: 10_000,
  });
  await setImage(namespace, name, "example.test/app:2");
  return {
    route,
    finished: () =>
      statusWhere(
        namespace,
        name,
        "Succeeded",
        (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
        120_000,
      ),
  };
}

const everyStepOnce = [0, 20, 40, 60, 80, 0];

describe("the operator's own failures", { concurrency: true }, () => {
  const killedNs = testNamespace("e2e-killed");
  const leaderNs = testNamespace("e2e-leader");
  const manyNs = testNamespace("e2e-many");

  it("SIGKILLed mid-rollout and restarted, it finishes with no step lost or repeated", async () => {
    const group = operatorGroup();
    const first = await start("killed", group, killedNs);
    const rollout = await rolloutOf(killedNs, "app");
    await waitFor("the second step", async () => (rollout.route.weights.includes(40) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    await first.stop("SIGKILL");
    await start("restarted", group, killedNs);
    await rollout.finished();
    await rollout.route.stop();
    assert.deepEqual(rollout.route.weights, everyStepOnce);
  });

  it("two replicas: one leads; when it dies the other takes over and the rollout finishes", async () => {
    const group = operatorGroup();
    const a = await start("replica-a", group, leaderNs);
    const b = await start("replica-b", group, leaderNs);
    // The Lease names the leader: its holder identity is the process's host name and PID.
    const holder = async () =>
      (
        await admin.find<{ spec?: { holderIdentity?: string } }>(
          RESOURCES.leases,
          operatorNamespace,
          group.leaseId,
        )
      )?.spec?.holderIdentity;
    const leaderOf = async () => {
      const identity = await holder();
      return [a, b].find((o) => identity?.endsWith(`-${o.pid}`));
    };
    const leader = await waitFor("one leader", leaderOf, { timeoutMs: 20_000 });
    const standby = leader === a ? b : a;
    const leading = (o: OperatorProcess) => o.output.split('"became the leader"').length - 1;
    assert.equal(leading(standby), 0, "the standby does not lead");
    const rollout = await rolloutOf(leaderNs, "app");
    await waitFor("the first step", async () => (rollout.route.weights.includes(20) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    assert.equal(leading(standby), 0, "never two leaders");
    await leader.stop("SIGKILL");
    await standby.waitForLog('"became the leader"', 20_000);
    await rollout.finished();
    await rollout.route.stop();
    assert.deepEqual(rollout.route.weights, everyStepOnce);
  });

  it("50 Canaries created at once all reach Initialized", async () => {
    await start("many", operatorGroup(), manyNs);
    const names = Array.from({ length: 50 }, (_, i) => `app-${i}`);
    await Promise.all(
      names.map((name) => admin.create(RESOURCES.deployments, manyNs, deployment(manyNs, name, 1))),
    );
    await Promise.all(
      names.map((name) =>
        admin.create(RESOURCES.canaries, manyNs, {
          metadata: { name, namespace: manyNs },
          spec: canarySpec(name, { provider: "kubernetes", analysis: { interval: "10s", iterations: 1 } }),
        }),
      ),
    );
    await Promise.all(
      names.map((name) =>
        statusWhere(manyNs, name, "Initialized", (s) => s.phase === "Initialized", 240_000),
      ),
    );
  });
});
