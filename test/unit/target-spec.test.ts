/**
 * The worker's side of compact activity inputs: a digest is resolved once per worker and checked
 * against the spec the workflow answers with; a full spec (histories from before the patch)
 * passes through untouched.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { resolvingSpecs } from "../../activities/target-spec.ts";
import type { CanaryActivities, Target } from "../../workflows/activity-port.ts";
import { specDigest } from "../../workflows/spec-digest.ts";
import { canarySpec } from "../workflows/support.ts";

const ref = { namespace: "shop", name: "web" };

function recording(): { seen: Target[]; activities: CanaryActivities } {
  const seen: Target[] = [];
  const activities = {
    async getRoutes(target: Target) {
      seen.push(target);
      return { primaryWeight: 100, canaryWeight: 0, mirror: false };
    },
  } as unknown as CanaryActivities;
  return { seen, activities };
}

describe("resolvingSpecs", () => {
  const spec = canarySpec({ stepWeight: 10 });
  const digest = specDigest(spec);

  it("resolves a digest once per worker and hands the activity the spec", async () => {
    const { seen, activities } = recording();
    let asked = 0;
    const calls = resolvingSpecs(activities, async (message) => {
      asked++;
      assert.equal(message.specDigest, digest);
      return spec;
    });
    await calls.getRoutes({ ref, revision: "r2", specDigest: digest });
    await calls.getRoutes({ ref, revision: "r3", specDigest: digest });
    assert.equal(asked, 1, "the second call is served from the worker's cache");
    assert.deepEqual(seen[1], { ref, revision: "r3", spec });
  });

  it("a spec that does not match its digest is refused, retryably", async () => {
    const { activities } = recording();
    const other = canarySpec({ stepWeight: 20 });
    const calls = resolvingSpecs(activities, async () => other);
    const err = await calls.getRoutes({ ref, specDigest: digest }).then(
      () => assert.fail("resolved a spec with another digest"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, "SpecUnavailable");
    assert.equal(err.nonRetryable, false);
  });

  it("passes a full spec through without asking", async () => {
    const { seen, activities } = recording();
    const calls = resolvingSpecs(activities, async () => assert.fail("asked the workflow"));
    await calls.getRoutes({ ref, spec, revision: "r1" });
    assert.equal(seen[0]?.spec, spec);
  });

  it("the digest changes with the spec and not with a copy of it", () => {
    assert.equal(specDigest(structuredClone(spec)), digest);
    assert.notEqual(specDigest(canarySpec({ stepWeight: 11 })), digest);
    assert.match(digest, /^[0-9a-f]{16}$/);
  });
});
