/**
 * The command line's pure parts: the terminal rendering of `status`/`watch`, watch's end of a
 * rollout, the effects --wait looks for, rollouts cut from run records, and the kubeconfig defaults.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, it } from "node:test";
import { effectShown } from "../../src/cli/command.ts";
import { readKubeContext } from "../../src/cli/kube-context.ts";
import { formatDuration, renderLine, renderStatus, table, trafficBar } from "../../src/cli/render.ts";
import type { StatusReport } from "../../src/cli/report.ts";
import { type RunRecord, rollouts } from "../../src/cli/runs.ts";
import { rolloutEnd } from "../../src/cli/watch.ts";

const now = new Date(2026, 0, 2, 12, 0, 0);
const at = (h: number, m: number, s: number) => new Date(2026, 0, 2, h, m, s).toISOString();

const resumed = {
  command: "resume",
  by: "alice",
  reason: "CAB-42",
  at: at(11, 59, 30),
  result: "resume accepted",
};

const report: StatusReport = {
  namespace: "demo",
  name: "podinfo",
  workflowId: "canary/demo/podinfo",
  phase: "Progressing",
  paused: false,
  message: "Analysing revision r2; holding at the confirm-traffic-increase gate",
  revisions: { canary: "r2", primary: "r1", failed: null },
  traffic: { primary: 70, canary: 30, mirror: false },
  step: { current: 3, total: 5 },
  checks: { failed: 1, threshold: 2 },
  iterations: 0,
  metrics: [
    {
      name: "request-success-rate",
      value: 93.1,
      min: 99,
      max: null,
      verdict: "fail",
      message: "request-success-rate 93.10 < 99",
    },
  ],
  webhooks: [{ name: "load", type: "pre-rollout", verdict: "pass", statusCode: 200, message: "200 OK" }],
  gate: { name: "confirm-traffic-increase", since: at(11, 58, 0), deadline: at(12, 30, 0) },
  lastCommand: {
    command: "resume",
    by: "alice",
    reason: "CAB-42",
    at: at(11, 59, 30),
    result: "resume accepted",
  },
};

describe("rendering for a terminal", () => {
  it("draws the status block with the traffic bar, step, checks, values, gate deadline and last command", () => {
    assert.equal(
      renderStatus(report, now),
      [
        "demo/podinfo  Progressing  step 3/5",
        "traffic   primary 70% ██████████████░░░░░░ 30% canary",
        "revision  canary r2, primary r1",
        "checks    1 of 2 failed checks allowed",
        "metric    [fail] request-success-rate 93.10 < 99",
        "webhook   [pass] load (pre-rollout): 200 OK",
        "gate      confirm-traffic-increase pending since 11:58:00, rolls back at 12:30:00 (in 30m)",
        'command   resume by alice at 11:59:30: "CAB-42" (resume accepted)',
        "message   Analysing revision r2; holding at the confirm-traffic-increase gate",
        "",
      ].join("\n"),
    );
  });

  it("says paused, mirroring, an unknown threshold and dates of other days", () => {
    const text = renderStatus(
      {
        ...report,
        paused: true,
        step: null,
        traffic: { primary: 100, canary: 0, mirror: true },
        checks: { failed: 0, threshold: null },
        gate: null,
        lastCommand: { ...resumed, at: new Date(2025, 11, 31, 9, 5, 1).toISOString() },
      },
      now,
    );
    assert.match(text, /^demo\/podinfo {2}Progressing \(paused\)\n/);
    assert.match(text, /\ntraffic {3}primary 100% █{20} 0% canary \(\+ mirrored copy\)\n/);
    assert.match(text, /\nchecks {4}0 failed\n/);
    assert.match(text, /\ncommand {3}resume by alice at 2025-12-31 09:05:01/);
    assert.doesNotMatch(text, /\ngate/);
  });

  it("the watch line names time, phase, weight, step, checks and gate", () => {
    assert.equal(
      renderLine(report, now),
      "12:00:00 Progressing: 30% canary, step 3/5, 1 of 2 failed checks allowed, waiting at confirm-traffic-increase - Analysing revision r2; holding at the confirm-traffic-increase gate\n",
    );
  });

  it("bars round to 20 cells; durations keep two units; tables pad columns", () => {
    assert.equal(
      trafficBar({ primary: 95, canary: 5, mirror: false }),
      `primary 95% ${"█".repeat(19)}░ 5% canary`,
    );
    assert.equal(
      trafficBar({ primary: 0, canary: 100, mirror: false }),
      `primary 0% ${"░".repeat(20)} 100% canary`,
    );
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(61_000), "1m1s");
    assert.equal(formatDuration(3_600_000 + 120_000 + 5_000), "1h2m");
    assert.equal(formatDuration(2 * 86_400_000 + 5_000), "2d");
    assert.equal(table(["A", "BB"], [["xxx", "y"]]), "A     BB\nxxx   y\n");
  });
});

describe("watch and --wait", () => {
  const idle = { ...report, phase: "Succeeded", step: null, gate: null } as StatusReport;
  const rolling = report;
  it("watch ends with the rollout under way: 0 on Succeeded, 1 on Failed or deletion", () => {
    assert.equal(rolloutEnd(rolling, rolling, true), undefined);
    assert.equal(rolloutEnd(rolling, { ...idle, phase: "Succeeded" }, true), 0);
    assert.equal(rolloutEnd(rolling, { ...idle, phase: "Failed" }, true), 1);
    assert.equal(rolloutEnd(rolling, { ...idle, phase: "Terminated" }, true), 1);
  });

  it("on an idle canary, watch waits for the next rollout, even one that ended between two polls", () => {
    assert.equal(rolloutEnd(idle, idle, false), undefined);
    const next = { ...idle, revisions: { ...idle.revisions, canary: "r3" } };
    assert.equal(rolloutEnd(idle, { ...next, phase: "Failed" }, false), 1);
    assert.equal(rolloutEnd(idle, next, false), 0);
  });

  it("--wait looks for each command's own effect", () => {
    const failed = {
      ...idle,
      phase: "Failed",
      traffic: { primary: 100, canary: 0, mirror: false },
    } as StatusReport;
    assert.equal(effectShown("abort", rolling, undefined), false);
    assert.equal(
      effectShown("abort", { ...failed, traffic: { primary: 90, canary: 10, mirror: false } }, undefined),
      false,
    );
    assert.equal(effectShown("abort", failed, undefined), true);
    assert.equal(effectShown("approve", rolling, "confirm-traffic-increase"), false);
    assert.equal(effectShown("approve", { ...rolling, gate: null }, "confirm-traffic-increase"), true);
    assert.equal(effectShown("pause", rolling, undefined), false);
    assert.equal(effectShown("pause", { ...rolling, paused: true }, undefined), true);
    assert.equal(effectShown("resume", rolling, undefined), true);
    assert.equal(effectShown("skip", { ...rolling, phase: "Promoting" }, undefined), false);
    assert.equal(effectShown("skip", idle, undefined), true);
    assert.equal(effectShown("retry", failed, undefined), false);
    assert.equal(effectShown("retry", rolling, undefined), true);
  });
});

describe("rollouts from run records", () => {
  const run = (runId: string, items: Partial<RunRecord>): RunRecord => ({
    runId,
    published: [],
    commands: [],
    spec: undefined,
    ...items,
  });
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

  it("cuts rollouts at phase changes across runs, with max weight, outcome and the commands (a retry sent while idle)", () => {
    const found = rollouts([
      run("1", {
        published: [
          { at: t(0), phase: "Initializing", weight: 0 },
          { at: t(1), phase: "Initialized", revision: "r1" },
          { at: t(2), phase: "Progressing", revision: "r2", weight: 10 },
          { at: t(3), weight: 20 },
          { at: t(4), phase: "Failed", weight: 0 },
        ],
        commands: [{ at: t(3), command: "abort", by: "alice", reason: "bad" }],
      }),
      run("2", {
        published: [
          { at: t(10), phase: "Failed", weight: 0, revision: "r2" },
          { at: t(12), phase: "Progressing", weight: 10 },
          { at: t(13), phase: "Progressing", weight: 10, revision: "r3" },
          { at: t(14), phase: "Succeeded", weight: 0 },
        ],
        commands: [{ at: t(11), command: "retry", by: "bob", reason: "" }],
      }),
      run("3", { published: [{ at: t(20), phase: "Progressing", revision: "r4", weight: 30 }] }),
    ]);
    assert.deepEqual(
      found.map((r) => [
        r.revision,
        r.outcome,
        r.start,
        r.end,
        r.maxWeight,
        r.commands.map((c) => c.command),
      ]),
      [
        ["r2", "Failed", t(2), t(4), 20, ["abort"]],
        ["r2", "Superseded", t(12), t(13), 10, ["retry"]],
        ["r3", "Succeeded", t(13), t(14), 10, []],
        ["r4", "InProgress", t(20), undefined, 30, []],
      ],
    );
  });

  it("a rollout ended by deletion is Deleted", () => {
    const [rollout] = rollouts([
      run("1", {
        published: [
          { at: t(1), phase: "Progressing", revision: "r2", weight: 10 },
          { at: t(2), phase: "Terminating" },
        ],
      }),
    ]);
    assert.equal(rollout?.outcome, "Deleted");
  });
});

describe("kubeconfig defaults", () => {
  const dir = mkdtempSync(join(tmpdir(), "kube-context-"));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const a = file(
    "a",
    "current-context: one\ncontexts:\n- name: one\n  context: {namespace: team-a, user: alice}\n",
  );
  const b = file(
    "b",
    "current-context: two\ncontexts:\n- name: one\n  context: {namespace: shadowed, user: x}\n- name: two\n  context: {user: bob}\n",
  );

  it("takes the current context's namespace and user; KUBECONFIG's files merge with the first winning", () => {
    assert.deepEqual(readKubeContext({}, { KUBECONFIG: [a, b].join(delimiter) }), {
      namespace: "team-a",
      user: "alice",
    });
    assert.deepEqual(readKubeContext({}, { KUBECONFIG: [b, a].join(delimiter) }), {
      namespace: undefined,
      user: "bob",
    });
    assert.deepEqual(readKubeContext({ kubeconfig: b, context: "one" }, {}), {
      namespace: "shadowed",
      user: "x",
    });
  });

  it("no kubeconfig gives no defaults; a named file or context that does not exist is an error", () => {
    assert.deepEqual(readKubeContext({}, { HOME: dir }), { namespace: undefined, user: undefined });
    assert.throws(() => readKubeContext({ kubeconfig: join(dir, "missing") }, {}), /does not exist/);
    assert.throws(
      () => readKubeContext({ kubeconfig: a, context: "nope" }, {}),
      /no kubeconfig defines the context nope/,
    );
  });
});
