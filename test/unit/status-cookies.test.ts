/**
 * status.sessionAffinityCookie, primarySessionAffinityCookie and previousSessionAffinityCookie,
 * as Flagger writes them: the pairs the routers set while traffic is split, and the canary's pair
 * kept as the previous one once the split is over.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nextStatus } from "../../activities/status.ts";
import { cookieStatus } from "../../activities/status-cookies.ts";
import type { StatusUpdate } from "../../workflows/activity-port.ts";
import { spec } from "./helpers/specs.ts";

const NOW = "2026-01-01T00:00:00.000Z";

function update(canaryWeight: number, overrides: Partial<StatusUpdate> = {}): StatusUpdate {
  return {
    phase: "Progressing",
    canaryWeight,
    failedChecks: 0,
    iterations: 0,
    revision: "7f9c",
    lastPromotedRevision: "1a2b",
    message: "Analysing revision 7f9c",
    ...overrides,
  };
}

const sticky = spec({ stepWeight: 20, sessionAffinity: { cookieName: "canary", primaryCookieName: "stay" } });

describe("cookieStatus", () => {
  test("while traffic is split: the pairs the routers set", () => {
    assert.deepEqual(cookieStatus({}, update(20), sticky), {
      sessionAffinityCookie: "canary=7f9c",
      primarySessionAffinityCookie: "stay=7f9c",
    });
  });

  test("once the split is over: the canary's pair becomes the previous one", () => {
    const during = { sessionAffinityCookie: "canary=7f9c", primarySessionAffinityCookie: "stay=7f9c" };
    for (const weight of [0, 100]) {
      assert.deepEqual(cookieStatus(during, update(weight, { phase: "Succeeded" }), sticky), {
        previousSessionAffinityCookie: "canary=7f9c",
        sessionAffinityCookie: "",
      });
    }
    assert.deepEqual(
      cookieStatus({ previousSessionAffinityCookie: "canary=7f9c" }, update(0), sticky),
      {},
      "nothing moves again",
    );
  });

  test("no session affinity, or a strategy without a split: no cookie fields", () => {
    assert.deepEqual(cookieStatus({}, update(20), spec({ stepWeight: 20 })), {});
    const blueGreen = spec({ iterations: 3, sessionAffinity: { cookieName: "canary" } });
    assert.deepEqual(cookieStatus({}, update(0), blueGreen), {});
  });
});

describe("nextStatus with session affinity", () => {
  test("writes the cookie fields, and an unchanged update writes nothing", () => {
    const status = nextStatus({}, update(20), NOW, sticky);
    assert.equal(status?.sessionAffinityCookie, "canary=7f9c");
    assert.equal(status?.primarySessionAffinityCookie, "stay=7f9c");
    assert.equal(nextStatus(status ?? {}, update(20), NOW, sticky), undefined);
  });
});
