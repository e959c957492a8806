import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CANARY_PHASES } from "../../src/api/canary.ts";
import {
  decideRevision,
  type RevisionAction,
  type RevisionContext,
} from "../../workflows/decisions/index.ts";

const base: RevisionContext = {
  phase: "Succeeded",
  revision: "r2",
  lastPromotedRevision: "r2",
  lastFailedRevision: "r1",
  suspended: false,
};

describe("decideRevision", () => {
  const cases: [string, Partial<RevisionContext>, string, RevisionAction, string][] = [
    ["a new revision after success starts", {}, "r3", "start", "new revision r3"],
    ["the promoted revision does not start", {}, "r2", "ignore", "revision r2 is already promoted"],
    [
      "right after initialization the primary's revision does not start",
      { phase: "Initialized", revision: "r0", lastPromotedRevision: "r0" },
      "r0",
      "ignore",
      "revision r0 is already promoted",
    ],
    [
      "a new revision after initialization starts",
      { phase: "Initialized", revision: "r0", lastPromotedRevision: "r0" },
      "r1",
      "start",
      "new revision r1",
    ],
    [
      "the failed revision does not start again",
      { phase: "Failed", revision: "r1" },
      "r1",
      "ignore",
      "revision r1 already failed; retry it to roll it out again",
    ],
    ["a revision that once failed starts after a later success", {}, "r1", "start", "new revision r1"],
    [
      "reverting to the promoted revision after a failure does nothing",
      { phase: "Failed", revision: "r3", lastFailedRevision: "r3" },
      "r2",
      "ignore",
      "revision r2 is already promoted",
    ],
    [
      "a new revision during analysis restarts it",
      { phase: "Progressing", revision: "r3" },
      "r4",
      "restart",
      "new revision r4 replaces r3",
    ],
    [
      "a new revision at the confirm-rollout gate restarts",
      { phase: "Waiting", revision: "r3" },
      "r4",
      "restart",
      "new revision r4 replaces r3",
    ],
    [
      "a new revision waiting for promotion restarts",
      { phase: "WaitingPromotion", revision: "r3" },
      "r4",
      "restart",
      "new revision r4 replaces r3",
    ],
    [
      "the same revision during analysis is a duplicate",
      { phase: "Progressing", revision: "r3" },
      "r3",
      "ignore",
      "revision r3 is already rolling out",
    ],
    [
      "a revision during promotion waits",
      { phase: "Promoting", revision: "r3" },
      "r4",
      "queue",
      "revision r3 is being promoted; the new revision starts after it",
    ],
    [
      "a revision during finalising waits",
      { phase: "Finalising", revision: "r3" },
      "r4",
      "queue",
      "revision r3 is being promoted; the new revision starts after it",
    ],
    [
      "a revision during initialization waits",
      { phase: "Initializing", revision: undefined, lastPromotedRevision: undefined },
      "r1",
      "queue",
      "initialization is not finished; the revision starts after it",
    ],
    [
      "a suspended canary queues",
      { suspended: true },
      "r3",
      "queue",
      "the canary is suspended; the revision starts when it is resumed",
    ],
    [
      "a suspended canary queues mid-analysis",
      { phase: "Progressing", revision: "r3", suspended: true },
      "r4",
      "queue",
      "the canary is suspended; the revision starts when it is resumed",
    ],
    ["deletion ignores revisions", { phase: "Terminating" }, "r3", "ignore", "the canary is being deleted"],
    [
      "deleted canaries ignore revisions",
      { phase: "Terminated" },
      "r3",
      "ignore",
      "the canary is being deleted",
    ],
  ];
  for (const [title, overrides, incoming, action, reason] of cases) {
    test(title, () =>
      assert.deepEqual(decideRevision({ ...base, ...overrides }, incoming), { action, reason }),
    );
  }

  test("every phase gives a decision", () => {
    for (const phase of CANARY_PHASES) assert.ok(decideRevision({ ...base, phase }, "r9").reason.length > 0);
  });
});
