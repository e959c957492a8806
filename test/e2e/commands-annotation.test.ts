/**
 * Commands by annotation, end to end as a GitOps user or `kubectl annotate` gives them: the
 * operator runs as its own process; the test only annotates the Canary with kubectl and reads
 * its status, route and Events. Each command is acknowledged in status.lastCommand and an Event,
 * and its annotations are removed.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { CoreV1Event, V1Deployment } from "@kubernetes/client-node";
import type { CanaryStatus } from "../../src/api/canary.ts";
import { COMMAND_ANNOTATIONS, removalPatch } from "../../src/controller/commands.ts";
import { isInvalid } from "../../src/kube/errors.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { routeWeights, setImage } from "../activities/rollout-support.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { canaryStatus, statusWhere } from "./support.ts";

const namespace = testNamespace("e2e-commands");
const name = "cmd";
let operator: OperatorProcess | undefined;

before(async () => {
  operator = await startOperator("commands", operatorGroup(), ["--namespace", namespace]);
});

after(async () => {
  await operator?.stop();
});

/** `kubectl annotate` as the cluster admin: the field manager is kubectl-annotate. */
async function annotate(annotations: Record<string, string>): Promise<void> {
  const pairs = Object.entries(annotations).map(([key, value]) => `${key}=${value}`);
  await promisify(execFile)(requireBinary("kubectl"), [
    "--kubeconfig",
    worldEnv().kubeconfig,
    "-n",
    namespace,
    "annotate",
    // Fully qualified: another group's CRD may also answer to "canary".
    "canaries.flagger.app",
    name,
    "--overwrite",
    ...pairs,
  ]);
}

type LastCommand = NonNullable<CanaryStatus["lastCommand"]>;

/**
 * Waits for the annotations to be gone (the controller removes them after acknowledging), then
 * reads status.lastCommand, which must tell of `command`.
 */
async function acknowledged(command: string, id: string | undefined): Promise<LastCommand> {
  await waitFor(
    `the annotations of ${command} removed`,
    async () => {
      const canary = await admin.get<{ metadata: { annotations?: Record<string, string> } }>(
        RESOURCES.canaries,
        namespace,
        name,
      );
      const left = Object.values(COMMAND_ANNOTATIONS).filter((k) => canary.metadata.annotations?.[k]);
      return left.length === 0 ? true : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  const last = (await canaryStatus(namespace, name)).lastCommand;
  assert.equal(last?.name, command, JSON.stringify(last));
  if (id !== undefined) assert.equal(last?.id, id);
  return last as LastCommand;
}

async function events(reason: string): Promise<CoreV1Event[]> {
  const list = await admin.list<CoreV1Event>(RESOURCES.events, namespace, {
    fieldSelector: `involvedObject.name=${name},reason=${reason}`,
  });
  return list.items;
}

const weight = async () => (await routeWeights(namespace, name)).canary ?? 0;

describe("operator commands by annotation", () => {
  it("a command the state refuses (skip while idle) is rejected with a Warning Event, acknowledged and removed", async () => {
    await createAvailable(deployment(namespace, name, 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name, namespace },
      // Slow steps, so a pause is seen to hold the weight for more than one interval.
      spec: canarySpec(name, { analysis: { interval: "3s", threshold: 2, stepWeight: 10, maxWeight: 50 } }),
    });
    await statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
    await annotate({ [COMMAND_ANNOTATIONS.command]: "skip", [COMMAND_ANNOTATIONS.reason]: "in a hurry" });
    const last = await acknowledged("skip", undefined);
    assert.equal(last.accepted, false);
    assert.match(last.message, /nothing to skip: phase is Initialized/);
    assert.equal(last.by, "annotation (kubectl-annotate)", "who wrote it, from managedFields");
    assert.equal(last.reason, "in a hurry");
    const [warning, ...more] = await events("CommandRejected");
    assert.equal(more.length, 0, "one Event");
    assert.equal(warning?.type, "Warning");
    assert.match(
      warning?.message ?? "",
      /skip by annotation \(kubectl-annotate\) \("in a hurry"\) rejected: nothing to skip/,
    );
    assert.equal((await canaryStatus(namespace, name)).phase, "Initialized");
  });

  it("pause holds the weight, resume continues, abort rolls back", async () => {
    await setImage(namespace, name, "example.test/app:2");
    await statusWhere(
      namespace,
      name,
      "progressing at 10%",
      (s) => s.phase === "Progressing" && (s.canaryWeight ?? 0) >= 10,
    );

    await annotate({
      [COMMAND_ANNOTATIONS.command]: "pause",
      [COMMAND_ANNOTATIONS.by]: "alice",
      [COMMAND_ANNOTATIONS.reason]: "checking the dashboards",
      [COMMAND_ANNOTATIONS.id]: "change-1",
    });
    const paused = await acknowledged("pause", "change-1");
    assert.equal(paused.accepted, true, paused.message);
    assert.equal(paused.by, "alice");

    // The same command applied again (a GitOps tool restoring the annotation) is removed, not sent
    // again: sent, it would be rejected as "already paused".
    await annotate({ [COMMAND_ANNOTATIONS.command]: "pause", [COMMAND_ANNOTATIONS.id]: "change-1" });
    assert.deepEqual(await acknowledged("pause", "change-1"), paused);

    const held = await weight();
    assert.ok(held >= 10, `paused at ${held}%`);
    // Two intervals and more: a running rollout would have stepped twice.
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    assert.equal(await weight(), held, "the weight holds while paused");
    assert.equal((await canaryStatus(namespace, name)).phase, "Progressing");

    await annotate({ [COMMAND_ANNOTATIONS.command]: "resume", [COMMAND_ANNOTATIONS.by]: "alice" });
    const resumed = await acknowledged("resume", undefined);
    assert.equal(resumed.accepted, true, resumed.message);
    await waitFor(
      "the weight steps on after resume",
      async () => ((await weight()) > held ? true : undefined),
      {
        timeoutMs: 15_000,
      },
    );

    await annotate({
      [COMMAND_ANNOTATIONS.command]: "abort",
      [COMMAND_ANNOTATIONS.by]: "bob",
      [COMMAND_ANNOTATIONS.reason]: "wrong build",
    });
    const aborted = await acknowledged("abort", undefined);
    assert.equal(aborted.accepted, true, aborted.message);
    await statusWhere(namespace, name, "Failed", (s) => s.phase === "Failed");
    assert.equal(await weight(), 0, "all traffic back on the primary");
    const primary = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, `${name}-primary`);
    assert.equal(primary.spec?.template.spec?.containers[0]?.image, "example.test/app:1");
    const applied = (await events("CommandAccepted")).map((e) => e.message ?? "");
    assert.equal(applied.length, 3, applied.join("\n"));
    assert.ok(
      applied.some((m) => /^abort by bob \("wrong build"\): /.test(m)),
      applied.join("\n"),
    );
    assert.equal((await events("CommandRejected")).length, 1, "only the skip was rejected");
  });

  it("a removal read before a newer command was written leaves the newer command in place", async () => {
    // A ConfigMap, which no controller acts on, holds the annotations the removal patch would see.
    const key = COMMAND_ANNOTATIONS.command;
    await admin.create(RESOURCES.configMaps, namespace, {
      metadata: { name: "stale-removal", annotations: { [key]: "pause" } },
    });
    await admin.mergePatch(RESOURCES.configMaps, namespace, "stale-removal", {
      metadata: { annotations: { [key]: "resume" } },
    });
    const err = await admin
      .jsonPatch(RESOURCES.configMaps, namespace, "stale-removal", removalPatch({ [key]: "pause" }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isInvalid(err), `the stale removal fails: ${String(err)}`);
    const kept = await admin.get<{ metadata: { annotations?: Record<string, string> } }>(
      RESOURCES.configMaps,
      namespace,
      "stale-removal",
    );
    assert.equal(kept.metadata.annotations?.[key], "resume");
  });
});
