/**
 * The status projection and Events against the real API server: the Flagger-compatible fields
 * and the Promoted condition through the status subresource, shown by `kubectl get canaries` and
 * awaited by `kubectl wait --for=condition=promoted`; an unchanged status costs no request; a
 * concurrent change makes the write conflict (409), re-read and succeed; Events name the cause.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import type { CanaryStatus } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { requireBinary } from "../../tools/catalog.ts";
import type { StatusUpdate } from "../../workflows/activity-port.ts";
import { worldEnv } from "../harness/world-env.ts";
import {
  activityEnv,
  admin,
  canarySpec,
  createCanary,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("status");
const world = worldEnv();

function kubectl(...args: string[]): string {
  return execFileSync(
    requireBinary("kubectl"),
    ["--kubeconfig", world.kubeconfig, "-n", namespace, ...args],
    {
      encoding: "utf8",
    },
  );
}

async function status(name: string): Promise<CanaryStatus> {
  return (await admin.get<{ status?: CanaryStatus }>(RESOURCES.canaries, namespace, name)).status ?? {};
}

const progressing: StatusUpdate = {
  phase: "Progressing",
  canaryWeight: 20,
  failedChecks: 1,
  iterations: 0,
  revision: "aaaa",
  lastPromotedRevision: "0000",
  message: "Analysing revision aaaa",
};

describe("status projection", () => {
  it("writes the Flagger status fields and the Promoted condition; kubectl shows and waits on them", async () => {
    const target = await createCanary(namespace, "web", canarySpec("web"));
    const { kube, activities } = operatorActivities();
    const first = await kube.counter.measure(() => activities.syncStatus(target, progressing));
    assert.deepEqual(first.requests, { "get canaries": 1, "patch canaries/status": 1 });

    let s = await status("web");
    assert.equal(s.phase, "Progressing");
    assert.equal(s.canaryWeight, 20);
    assert.equal(s.failedChecks, 1);
    assert.equal(s.lastAppliedSpec, "aaaa");
    assert.equal(s.lastPromotedSpec, "0000");
    assert.ok(s.lastTransitionTime);
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [["Promoted", "Unknown", "Progressing", "Analysing revision aaaa"]],
    );
    const columns = kubectl("get", "canaries", "web", "--no-headers").trim().split(/\s+/);
    assert.deepEqual(columns.slice(0, 4), ["web", "Progressing", "20", "1"]);
    assert.equal(columns[4], s.lastTransitionTime);
    assert.match(kubectl("get", "canaries"), /NAME\s+STATUS\s+WEIGHT\s+FAILEDCHECKS\s+LASTTRANSITIONTIME/);

    const again = await kube.counter.measure(() => activities.syncStatus(target, progressing));
    assert.equal(again.total, 0, "an unchanged status costs nothing");

    const transition = s.lastTransitionTime;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await activities.syncStatus(target, { ...progressing, canaryWeight: 40 });
    s = await status("web");
    assert.equal(s.lastTransitionTime, transition, "same phase: no transition");

    await activities.syncStatus(target, {
      ...progressing,
      phase: "Succeeded",
      canaryWeight: 0,
      failedChecks: 0,
      lastPromotedRevision: "aaaa",
      message: "Revision aaaa promoted",
    });
    s = await status("web");
    assert.notEqual(s.lastTransitionTime, transition);
    assert.equal(s.conditions?.[0]?.status, "True");
    assert.match(kubectl("wait", "canary/web", "--for=condition=promoted", "--timeout=10s"), /condition met/);
  });

  it("a concurrent change makes the status write conflict, re-read and succeed", async () => {
    const target = await createCanary(namespace, "busy", canarySpec("busy"));
    const { kube, activities } = operatorActivities();
    await activities.syncStatus(target, progressing);
    // Someone edits the Canary: what the activity last saw is now stale.
    await admin.mergePatch(RESOURCES.canaries, namespace, "busy", {
      metadata: { labels: { edited: "yes" } },
    });
    const retried = await kube.counter.measure(() =>
      activities.syncStatus(target, {
        ...progressing,
        phase: "Failed",
        message: "rolled back: checks failed",
      }),
    );
    assert.deepEqual(
      retried.requests,
      { "patch canaries/status": 2, "get canaries": 1 },
      "conflict, read, write",
    );
    const s = await status("busy");
    assert.equal(s.phase, "Failed");
    assert.equal(s.conditions?.[0]?.status, "False");
    assert.equal(s.conditions?.[0]?.message, "rolled back: checks failed");
  });

  it("records Events whose reason and message name the cause, once per activity invocation", async () => {
    const target = await createCanary(namespace, "events", canarySpec("events"));
    const { activities } = operatorActivities();
    const env = activityEnv();
    const event = {
      type: "Warning" as const,
      reason: "Failed",
      message: "Rolling back: request-success-rate 93.10 < 99 (failed checks 2 of 2)",
    };
    await env.run(activities.recordEvent, target, event);
    await env.run(activities.recordEvent, target, event);
    await activityEnv().run(activities.recordEvent, target, {
      type: "Normal" as const,
      reason: "Progressing",
      message: "Advance",
    });
    const events = (
      await admin.list<{
        reason?: string;
        message?: string;
        type?: string;
        involvedObject?: { kind?: string };
      }>(RESOURCES.events, namespace, { fieldSelector: "involvedObject.name=events" })
    ).items;
    assert.equal(events.length, 2, "the retried invocation recorded once");
    const failed = events.find((e) => e.reason === "Failed");
    assert.equal(failed?.type, "Warning");
    assert.equal(failed?.message, event.message);
    assert.equal(failed?.involvedObject?.kind, "Canary");
    assert.match(
      kubectl("describe", "canary", "events"),
      /Warning\s+Failed\s+.*request-success-rate 93\.10 < 99/,
    );
  });
  it("reports a step's status and its Events in one call, each Event once across retries", async () => {
    const target = await createCanary(namespace, "reports", canarySpec("reports"));
    const { activities } = operatorActivities();
    const env = activityEnv();
    const report = {
      status: {
        phase: "Progressing" as const,
        canaryWeight: 20,
        failedChecks: 1,
        iterations: 0,
        revision: "r2",
        lastPromotedRevision: "r1",
        message: "Check failed (1 of 2 allowed)",
      },
      events: [
        {
          type: "Warning" as const,
          reason: "Progressing",
          message: "Check failed (1 of 2 allowed): constant",
        },
        { type: "Normal" as const, reason: "Progressing", message: "Advance canary weight 20" },
      ],
    };
    await env.run(activities.report, target, report);
    await env.run(activities.report, target, report);
    const events = (
      await admin.list<{ message?: string }>(RESOURCES.events, namespace, {
        fieldSelector: "involvedObject.name=reports",
      })
    ).items;
    assert.deepEqual(
      events.map((e) => e.message).sort(),
      report.events.map((e) => e.message).sort(),
      "both Events, each once",
    );
    const s = await status("reports");
    assert.equal(s.phase, "Progressing");
    assert.equal(s.canaryWeight, 20);
  });

  it("writes the session-affinity cookies while traffic is split, then moves the canary's to previous", async () => {
    const spec = canarySpec("sticky", {
      analysis: {
        interval: "1m",
        stepWeight: 20,
        sessionAffinity: { cookieName: "flagger-cookie", primaryCookieName: "primary-cookie" },
      },
    });
    const target = await createCanary(namespace, "sticky", spec);
    const { activities } = operatorActivities();
    await activities.syncStatus(target, progressing);
    let s = await status("sticky");
    assert.equal(s.sessionAffinityCookie, "flagger-cookie=aaaa");
    assert.equal(s.primarySessionAffinityCookie, "primary-cookie=aaaa");
    assert.equal(s.previousSessionAffinityCookie, undefined);

    await activities.syncStatus(target, {
      ...progressing,
      phase: "Succeeded",
      canaryWeight: 0,
      lastPromotedRevision: "aaaa",
      message: "Canary analysis completed successfully, promotion finished.",
    });
    s = await status("sticky");
    assert.equal(s.sessionAffinityCookie, "", "Flagger's tooling reads the empty string as no cookie");
    assert.equal(s.previousSessionAffinityCookie, "flagger-cookie=aaaa");
  });
});
