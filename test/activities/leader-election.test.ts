/**
 * Leader election on a real Lease, as the operator's service account: of two candidates exactly
 * one leads; a leader that stops gracefully hands over at once; a leader whose Lease is taken
 * (or cannot be renewed) stops leading; a dead leader is replaced after the lease duration.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { RESOURCES } from "../../src/kube/resources.ts";
import { LeaderElection } from "../../src/operator/leader-election.ts";
import { operatorNamespace } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { admin, operatorClient } from "./kube-support.ts";

const log = pino({ level: "silent" });
const elections: LeaderElection[] = [];
after(async () => {
  await Promise.all(elections.map((e) => e.stop()));
});

function candidate(name: string, identity: string, leading: Set<string>) {
  const election = new LeaderElection({
    kube: operatorClient(),
    namespace: operatorNamespace,
    name,
    identity,
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 300,
    log,
    onStartedLeading: () => {
      leading.add(identity);
    },
    onStoppedLeading: () => {
      leading.delete(identity);
    },
  });
  elections.push(election);
  election.start();
  return election;
}

const holder = async (name: string) =>
  (await admin.find<{ spec?: { holderIdentity?: string } }>(RESOURCES.leases, operatorNamespace, name))?.spec
    ?.holderIdentity;

describe("leader election", () => {
  it("one of two leads; a graceful stop hands over within a retry period", async () => {
    const name = `le-${randomUUID().slice(0, 8)}`;
    const leading = new Set<string>();
    const a = candidate(name, "a", leading);
    const b = candidate(name, "b", leading);
    await waitFor("a leader", async () => (leading.size === 1 ? true : undefined), { timeoutMs: 10_000 });
    for (let i = 0; i < 10; i++) {
      assert.equal(leading.size, 1, "never two leaders");
      await sleep(200);
    }
    const first = [...leading][0];
    assert.equal(await holder(name), first);
    const stopped = Date.now();
    await (first === "a" ? a : b).stop();
    await waitFor(
      "the other leads",
      async () => (leading.size === 1 && !leading.has(first as string) ? true : undefined),
      {
        timeoutMs: 5000,
        intervalMs: 20,
      },
    );
    assert.ok(
      Date.now() - stopped < 2900,
      `handed over after ${Date.now() - stopped} ms, not a lease duration`,
    );
  });

  it("a leader whose Lease another takes stops leading", async () => {
    const name = `le-${randomUUID().slice(0, 8)}`;
    const leading = new Set<string>();
    candidate(name, "only", leading);
    await waitFor("leading", async () => (leading.has("only") ? true : undefined), { timeoutMs: 10_000 });
    const lease = await admin.get<{ metadata: object; spec: object }>(
      RESOURCES.leases,
      operatorNamespace,
      name,
    );
    await admin.replace(RESOURCES.leases, operatorNamespace, name, {
      metadata: lease.metadata,
      spec: {
        ...lease.spec,
        holderIdentity: "intruder",
        renewTime: new Date().toISOString().replace("Z", "000Z"),
      },
    });
    await waitFor("stepped down", async () => (leading.has("only") ? undefined : true), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
  });

  it("a dead leader is replaced after the lease duration, not before", async () => {
    const name = `le-${randomUUID().slice(0, 8)}`;
    const now = new Date().toISOString().replace("Z", "000Z");
    await admin.create(RESOURCES.leases, operatorNamespace, {
      metadata: { name, namespace: operatorNamespace },
      spec: {
        holderIdentity: "dead",
        leaseDurationSeconds: 3,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    });
    const leading = new Set<string>();
    const started = Date.now();
    candidate(name, "heir", leading);
    await waitFor("the heir leads", async () => (leading.has("heir") ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 3000 && waited < 10_000, `took over after ${waited} ms`);
    assert.equal(await holder(name), "heir");
  });
});
