/**
 * Faults of what the analysis talks to, end to end: the operator as its own process, the test
 * acting only through the Kubernetes API and the faulty servers themselves. A Prometheus of this
 * file's own (the operator's metrics server) is stopped in the middle of two analyses; webhooks
 * hang, answer 500, or answer 10 MB. Each becomes a failed check with a short message that names
 * the server, and the canary either rolls back at its threshold or goes on once the fault is gone.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, Connection } from "@temporalio/client";
import type { CanarySpec, CanaryStatus } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { workflowId } from "../../workflows/messages.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage } from "../activities/rollout-support.ts";
import { type Receiver, startReceiver } from "../activities/webhooks-servers.ts";
import { isAlive, killGroup, Supervisor, waitFor } from "../harness/process.ts";
import { type PrometheusServer, startPrometheus } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";
import { type OperatorProcess, operatorGroup, startOperator } from "./operator.ts";
import { canaryStatus, promoted, statusWhere } from "./support.ts";

const world = worldEnv();
const namespace = testNamespace("e2e-faults");
const dir = mkdtempSync(join(tmpdir(), "durable-canary-faults-"));
const supervisor = new Supervisor(dir);
let prometheus: PrometheusServer | undefined;
let operator: OperatorProcess | undefined;
const receivers: Receiver[] = [];

/** Longest message a status or Event may carry here: a sentence, never the 10 MB body. */
const BOUNDED = 1024;

before(async () => {
  prometheus = await startPrometheus(supervisor, { dir: join(dir, "prometheus") });
  operator = await startOperator("faults", operatorGroup(), [
    "--namespace",
    namespace,
    "--metrics-server",
    prometheus.url,
  ]);
  // A Prometheus template without an address: the operator's metrics server answers it.
  await admin.create(RESOURCES.metricTemplates, namespace, {
    metadata: { name: "constant", namespace },
    spec: { provider: { type: "prometheus" }, query: "vector(100)" },
  });
});

after(async () => {
  await operator?.stop("SIGKILL");
  await Promise.all(receivers.map((r) => r.close()));
  await supervisor.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function stopPrometheus(): Promise<void> {
  const pid = prometheus?.process.pid;
  assert.ok(pid);
  killGroup(pid, "SIGTERM");
  await waitFor("Prometheus stopped", async () => (isAlive(pid) ? undefined : true), {
    timeoutMs: 20_000,
    intervalMs: 50,
  });
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

/** A Deployment and its Canary, Initialized; resolves the status then. */
async function initialized(name: string, spec: Partial<CanarySpec>): Promise<CanaryStatus> {
  await createAvailable(deployment(namespace, name, 1));
  await admin.create(RESOURCES.canaries, namespace, {
    metadata: { name, namespace },
    spec: canarySpec(name, spec),
  });
  return statusWhere(namespace, name, "Initialized", (s) => s.phase === "Initialized");
}

async function warnings(name: string): Promise<string[]> {
  const events = await admin.list<{ type?: string; message?: string; involvedObject?: { name?: string } }>(
    RESOURCES.events,
    namespace,
  );
  return events.items
    .filter((e) => e.type === "Warning" && e.involvedObject?.name === name)
    .map((e) => e.message ?? "");
}

/** Every message the user can read about the Canary: its conditions and its Events. */
async function messages(name: string): Promise<string[]> {
  const status = await canaryStatus(namespace, name);
  return [...(status.conditions ?? []).map((c) => c.message ?? ""), ...(await warnings(name))];
}

/** The workflow history's size in bytes, as Temporal stores it. */
async function historyBytes(name: string): Promise<number> {
  const connection = await Connection.connect({ address: world.temporalAddress });
  try {
    const client = new Client({ connection, namespace: world.temporalNamespace });
    const history = await client.workflow.getHandle(workflowId(namespace, name)).fetchHistory();
    return JSON.stringify(history).length;
  } finally {
    await connection.close();
  }
}

const rolledBack = (name: string) =>
  statusWhere(namespace, name, "Failed (rolled back)", (s) => s.phase === "Failed", 60_000);

describe("faults of the analysis' servers", { concurrency: true }, () => {
  it("Prometheus stopped mid-analysis: failed checks name it; threshold 2 rolls back, threshold 30 recovers when it returns", async () => {
    assert.ok(prometheus);
    const metrics = [
      { name: "constant", templateRef: { name: "constant" }, thresholdRange: { min: 99 }, interval: "1m" },
    ];
    const [strict, patient] = ["prom-strict", "prom-patient"];
    const firsts = await Promise.all([
      initialized(strict, {
        analysis: { interval: "1s", threshold: 2, stepWeight: 10, maxWeight: 90, metrics },
      }),
      initialized(patient, {
        analysis: { interval: "1s", threshold: 30, stepWeight: 10, maxWeight: 50, metrics },
      }),
    ]);
    const route = recordCanaryWeights(namespace, patient, admin);
    await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    await Promise.all([strict, patient].map((n) => setImage(namespace, n, "example.test/app:2")));
    await Promise.all(
      [strict, patient].map((n) =>
        statusWhere(namespace, n, "the first step", (s) => (s.canaryWeight ?? 0) >= 10, 30_000),
      ),
    );

    await stopPrometheus();
    const down = Date.now();
    const failed = await rolledBack(strict);
    const named = new RegExp(`cannot query Prometheus at ${prometheus.url.replaceAll(".", "\\.")}`);
    assert.equal(failed.canaryWeight, 0);
    assert.match(promoted(failed)?.message ?? "", /2 failed checks reached the threshold: constant: /);
    assert.match(promoted(failed)?.message ?? "", named);
    const strictWarnings = await warnings(strict);
    assert.ok(
      strictWarnings.some((m) => m.startsWith("Check failed (1 of 2 allowed): constant: ") && named.test(m)),
      strictWarnings.join("\n"),
    );
    // The patient one counts failed checks but holds its weight.
    const held = await statusWhere(
      namespace,
      patient,
      "two failed checks",
      (s) => (s.failedChecks ?? 0) >= 2,
    );
    assert.equal(held.phase, "Progressing");
    assert.ok(Date.now() - down < 20_000, "the failures came within seconds");

    prometheus = await startPrometheus(supervisor, {
      dir: join(dir, "prometheus"),
      port: Number(new URL(prometheus.url).port),
      name: "prometheus-again",
    });
    const done = await statusWhere(
      namespace,
      patient,
      "Succeeded",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== firsts[1]?.lastPromotedSpec,
    );
    await route.stop();
    // Every step once: no step lost while the checks failed, none repeated after.
    assert.deepEqual(route.weights, [0, 10, 20, 30, 40, 50, 0]);
    assert.equal(promoted(done)?.status, "True");
    assert.ok(
      (await warnings(patient)).some(
        (m) => /Check failed \(\d+ of 30 allowed\): constant: /.test(m) && named.test(m),
      ),
    );
  });

  it("a webhook that hangs past its timeout: failed checks that say so, a rollback at the threshold, and the next revision goes through once it answers", async () => {
    const hook = await receiver();
    hook.respond(() => ({ delayMs: 60_000 }));
    const name = "hook-hangs";
    await initialized(name, {
      analysis: {
        interval: "1s",
        threshold: 2,
        stepWeight: 20,
        maxWeight: 40,
        webhooks: [{ name: "load-test", url: `${hook.url}/hang`, timeout: "1s" }],
      },
    });
    await setImage(namespace, name, "example.test/app:2");
    const failed = await rolledBack(name);
    assert.match(promoted(failed)?.message ?? "", /2 failed checks reached the threshold: .*load-test.*1s/);
    for (const m of await messages(name)) assert.ok(m.length < BOUNDED, m);

    // Not stuck: fixed, the next revision rolls out.
    hook.respond(() => ({ status: 200, body: "ok" }));
    await setImage(namespace, name, "example.test/app:3");
    await statusWhere(
      namespace,
      name,
      "Succeeded with app:3",
      (s) => s.phase === "Succeeded" && (s.lastPromotedSpec ?? "") !== (failed.lastPromotedSpec ?? ""),
    );
  });

  it("a webhook that answers 500: a failed check quoting it; fixed before the threshold, the rollout goes on", async () => {
    const hook = await receiver();
    hook.respond(() => ({ status: 500, body: "load generator exploded" }));
    const name = "hook-500";
    const first = await initialized(name, {
      analysis: {
        interval: "1s",
        threshold: 30,
        stepWeight: 20,
        maxWeight: 40,
        webhooks: [{ name: "acceptance", url: hook.url }],
      },
    });
    await setImage(namespace, name, "example.test/app:2");
    await waitFor(
      "a failed check quoting the 500",
      async () =>
        (await warnings(name)).find((m) =>
          /^Check failed \(1 of 30 allowed\): .*acceptance.*HTTP 500: load generator exploded/.test(m),
        ),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal((await canaryStatus(namespace, name)).phase, "Progressing");
    hook.respond(() => ({ status: 200, body: "ok" }));
    await statusWhere(
      namespace,
      name,
      "Succeeded",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
    );
  });

  it("a webhook that answers 10 MB: a failed check with an excerpt, and nothing of the body in status, Events or history", async () => {
    const hook = await receiver();
    const huge = `${"x".repeat(10 * 1024 * 1024 - 3)}end`;
    hook.respond(() => ({ status: 503, body: huge }));
    const name = "hook-huge";
    await initialized(name, {
      analysis: {
        interval: "1s",
        threshold: 2,
        stepWeight: 20,
        maxWeight: 40,
        webhooks: [{ name: "smoke", url: hook.url }],
      },
    });
    const before = await historyBytes(name);
    await setImage(namespace, name, "example.test/app:2");
    const failed = await rolledBack(name);
    assert.match(promoted(failed)?.message ?? "", /smoke.*HTTP 503: x+…/);
    const all = await messages(name);
    assert.ok(
      all.some((m) => m.startsWith("Check failed (1 of 2 allowed): ")),
      all.join("\n"),
    );
    for (const m of all) {
      assert.ok(m.length < BOUNDED, `${m.length} characters: ${m.slice(0, 200)}`);
      assert.doesNotMatch(m, /end$/);
    }
    const grown = (await historyBytes(name)) - before;
    assert.ok(grown < 200_000, `the history grew by ${grown} bytes during the rollback`);
  });
});
