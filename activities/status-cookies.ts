/**
 * The session-affinity fields of a Canary's status, written as Flagger writes them:
 * `sessionAffinityCookie` (and `primarySessionAffinityCookie`) hold the `name=value` pair the
 * routers set while a rollout splits traffic; once the split is over, the canary's pair moves to
 * `previousSessionAffinityCookie` and `sessionAffinityCookie` is emptied. The value is the
 * revision, as the routers use it (activities/routing/session-affinity.ts).
 */
import type { CanaryStatus } from "../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";
import type { StatusUpdate } from "../workflows/activity-port.ts";
import { TOTAL_WEIGHT } from "../workflows/decisions/routes.ts";
import { cookieValue } from "./routing/session-affinity.ts";

export type CookieStatus = Pick<
  CanaryStatus,
  "sessionAffinityCookie" | "primarySessionAffinityCookie" | "previousSessionAffinityCookie"
>;

/** The cookie fields after `update`; empty when the Canary has no session affinity. */
export function cookieStatus(
  previous: CanaryStatus,
  update: StatusUpdate,
  spec: Pick<ResolvedCanarySpec, "analysis" | "strategy">,
): CookieStatus {
  const affinity = spec.analysis.sessionAffinity;
  if (!affinity || spec.strategy.kind !== "canary") return {};
  const split = update.canaryWeight > 0 && update.canaryWeight < TOTAL_WEIGHT;
  if (split && update.revision !== undefined) {
    const value = cookieValue(update.revision);
    return {
      sessionAffinityCookie: `${affinity.cookieName}=${value}`,
      ...(affinity.primaryCookieName === undefined
        ? {}
        : { primarySessionAffinityCookie: `${affinity.primaryCookieName}=${value}` }),
    };
  }
  // Go's empty string, which Flagger's tooling reads as "no cookie".
  return previous.sessionAffinityCookie
    ? { previousSessionAffinityCookie: previous.sessionAffinityCookie, sessionAffinityCookie: "" }
    : {};
}
