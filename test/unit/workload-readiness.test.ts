import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1DaemonSet, V1Deployment, V1Pod } from "@kubernetes/client-node";
import {
  daemonSetReadiness,
  deploymentReadiness,
  podProblems,
  requiredAvailable,
} from "../../activities/workload-readiness.ts";

const now = Date.parse("2026-01-01T12:00:00Z");
const iso = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();

function deploymentWith(
  status: NonNullable<V1Deployment["status"]>,
  replicas = 4,
  generation = 2,
  progressing?: { reason: string; secondsAgo: number },
): V1Deployment {
  return {
    metadata: { name: "web", namespace: "ns", generation },
    spec: { replicas, selector: {}, template: {} },
    status: {
      observedGeneration: 2,
      ...status,
      conditions: progressing
        ? [
            {
              type: "Progressing",
              status: "True",
              reason: progressing.reason,
              lastUpdateTime: iso(progressing.secondsAgo) as unknown as Date,
            },
          ]
        : [],
    },
  };
}

const options = { thresholdPercent: 100, nowMs: now, sinceMs: now - 5_000 };

describe("deploymentReadiness", () => {
  it("is ready when every replica runs the new template and is available", () => {
    const r = deploymentReadiness(
      deploymentWith({ replicas: 4, updatedReplicas: 4, availableReplicas: 4 }),
      options,
    );
    assert.equal(r.ready, true);
  });

  const cases: [string, V1Deployment, RegExp][] = [
    [
      "an unobserved generation",
      deploymentWith({ replicas: 4, updatedReplicas: 4, availableReplicas: 4 }, 4, 3),
      /waiting for the controller to observe generation 3/,
    ],
    [
      "replicas on the old template",
      deploymentWith({ replicas: 4, updatedReplicas: 2 }),
      /2 of 4 replicas run the new template/,
    ],
    [
      "old replicas left",
      deploymentWith({ replicas: 5, updatedReplicas: 4, availableReplicas: 4 }),
      /1 old replicas are pending termination/,
    ],
    [
      "too few available",
      deploymentWith({ replicas: 4, updatedReplicas: 4, availableReplicas: 3 }),
      /3 of 4 replicas available, 4 needed \(threshold 100%\)/,
    ],
    ["zero replicas", deploymentWith({}, 0), /is scaled to zero/],
  ];
  for (const [what, d, message] of cases) {
    it(`is not ready with ${what}`, () => {
      const r = deploymentReadiness(d, options);
      assert.equal(r.ready, false);
      assert.match(r.summary, message);
    });
  }

  it("applies the threshold to the desired replicas, rounding up", () => {
    const d = deploymentWith({ replicas: 4, updatedReplicas: 4, availableReplicas: 3 });
    assert.equal(deploymentReadiness(d, { ...options, thresholdPercent: 75 }).ready, true);
    assert.equal(deploymentReadiness(d, { ...options, thresholdPercent: 76 }).ready, false);
    assert.equal(requiredAvailable(3, 50), 2);
    assert.equal(requiredAvailable(4, 0), 0);
  });

  it("misses the deadline after deadlineSeconds without progress, counted from the later of progress and the wait", () => {
    const stuck = deploymentWith({ replicas: 4, updatedReplicas: 4, availableReplicas: 0 }, 4, 2, {
      reason: "ReplicaSetUpdated",
      secondsAgo: 30,
    });
    const waitingLong = { ...options, sinceMs: now - 60_000, deadlineSeconds: 20 };
    const r = deploymentReadiness(stuck, waitingLong);
    assert.ok(!r.ready && r.deadlineExceeded);
    assert.equal(!r.ready && r.deadlineAtMs, now - 10_000);
    const justStarted = deploymentReadiness(stuck, { ...options, sinceMs: now - 1000, deadlineSeconds: 20 });
    assert.ok(!justStarted.ready && !justStarted.deadlineExceeded, "a new wait gets the whole deadline");
    assert.equal(!justStarted.ready && justStarted.deadlineAtMs, now + 19_000);
    const noDeadline = deploymentReadiness(stuck, options);
    assert.ok(!noDeadline.ready && !noDeadline.deadlineExceeded && noDeadline.deadlineAtMs === undefined);
  });

  it("takes the Deployment's own ProgressDeadlineExceeded as missed", () => {
    const d = deploymentWith({ replicas: 4, updatedReplicas: 4, availableReplicas: 1 }, 4, 2, {
      reason: "ProgressDeadlineExceeded",
      secondsAgo: 1,
    });
    const r = deploymentReadiness(d, { ...options, deadlineSeconds: 600 });
    assert.ok(!r.ready && r.deadlineExceeded);
    assert.match(r.summary, /exceeded its progress deadline: 1 of 4 replicas available/);
  });
});

describe("daemonSetReadiness", () => {
  const ds = (status: Partial<NonNullable<V1DaemonSet["status"]>>, generation = 1): V1DaemonSet => ({
    metadata: { name: "agent", namespace: "ns", generation },
    status: {
      observedGeneration: 1,
      currentNumberScheduled: 0,
      numberMisscheduled: 0,
      numberReady: 0,
      desiredNumberScheduled: 0,
      ...status,
    },
  });

  it("is ready when every node runs an updated, available pod", () => {
    assert.equal(
      daemonSetReadiness(
        ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }),
        options,
      ).ready,
      true,
    );
  });

  it("is not ready while pods update, below the threshold, or on no node; the wait anchors the deadline", () => {
    const updating = daemonSetReadiness(
      ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 1 }),
      options,
    );
    assert.match(updating.summary, /1 of 3 pods run the new template/);
    const few = daemonSetReadiness(
      ds({ desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 1 }),
      { ...options, deadlineSeconds: 4 },
    );
    assert.match(few.summary, /1 of 3 pods available, 3 needed/);
    assert.ok(!few.ready && few.deadlineExceeded, "waiting 5s with a 4s deadline");
    assert.match(
      daemonSetReadiness(ds({ desiredNumberScheduled: 0 }), options).summary,
      /scheduled on no node/,
    );
    assert.match(
      daemonSetReadiness(ds({ desiredNumberScheduled: 1 }, 2), options).summary,
      /observe generation 2/,
    );
  });
});

describe("podProblems", () => {
  const pod = (name: string, status: V1Pod["status"], containers = ["app"]): V1Pod => ({
    metadata: { name },
    spec: { containers: containers.map((c) => ({ name: c })) },
    status,
  });

  it("names unschedulable pods, waiting and terminated containers, failing readiness; groups alike pods", () => {
    const problems = podProblems([
      pod("a", {
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "0/1 nodes: Insufficient cpu",
          },
        ],
      }),
      pod("b", {
        conditions: [{ type: "Ready", status: "False" }],
        containerStatuses: [
          {
            name: "app",
            ready: false,
            restartCount: 3,
            image: "x",
            imageID: "",
            state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s" } },
            lastState: { terminated: { reason: "Error", exitCode: 1 } },
          },
        ],
      }),
      pod("c", {
        conditions: [{ type: "Ready", status: "False" }],
        containerStatuses: [
          {
            name: "app",
            ready: false,
            restartCount: 0,
            image: "x",
            imageID: "",
            state: { waiting: { reason: "ImagePullBackOff", message: "not found" } },
          },
        ],
      }),
      pod("d", {
        conditions: [{ type: "Ready", status: "False" }],
        containerStatuses: [
          {
            name: "app",
            ready: false,
            restartCount: 0,
            image: "x",
            imageID: "",
            state: { waiting: { reason: "ImagePullBackOff", message: "not found" } },
          },
        ],
      }),
      pod("e", { conditions: [{ type: "Ready", status: "True" }] }),
      pod("f", {
        conditions: [
          { type: "Ready", status: "False", reason: "ContainersNotReady", message: "probe failed" },
        ],
        containerStatuses: [
          { name: "app", ready: false, restartCount: 0, image: "x", imageID: "", state: { running: {} } },
        ],
      }),
    ]);
    assert.deepEqual(problems, [
      "pod a: unschedulable: 0/1 nodes: Insufficient cpu",
      "pod b: container app waiting (CrashLoopBackOff: back-off 40s); last exit: Error with code 1",
      "2 pods (c, d): container app waiting (ImagePullBackOff: not found)",
      "pod f: container app running but not ready (ContainersNotReady: probe failed)",
    ]);
  });

  it("lists at most `limit` reasons", () => {
    const pods = ["a", "b", "c"].map((name) =>
      pod(name, { conditions: [{ type: "Ready", status: "False", reason: `R${name}` }] }),
    );
    assert.deepEqual(podProblems(pods, 2), ["pod a: not ready (Ra)", "pod b: not ready (Rb)", "and 1 more"]);
  });
});
