/**
 * Session affinity (`analysis.sessionAffinity`) for the weighted routers: while a canary rollout
 * splits traffic, a response from the canary sets a cookie, and a route in front of the weighted
 * one sends every request carrying it to the canary, so a user who reached the new version stays
 * on it. With `primaryCookieName`, users who reached the primary stay there too.
 *
 * The cookie's value is the canary's revision: the same value on every write (idempotent), and a
 * cookie from an earlier rollout matches nothing once the next revision rolls out.
 */
import type { SessionAffinity } from "../../src/api/canary.ts";
import type { ResolvedCanarySpec } from "../../src/api/defaults.ts";
import type { Routes } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { escapeRegex } from "./match.ts";

export interface StickyCookie {
  /** The Set-Cookie header a response from this side adds. */
  readonly setCookie: string;
  /** A regular expression (RE2) over the Cookie request header that finds this cookie. */
  readonly matchRegex: string;
}

export interface StickySessions {
  readonly canary: StickyCookie;
  readonly primary: StickyCookie | undefined;
}

const DEFAULT_MAX_AGE_SECONDS = 86_400;

/** Cookie values may not hold separators or spaces: revisions are hashes, but a hand-set one may. */
export function cookieValue(revision: string): string {
  return revision.replace(/[^A-Za-z0-9._-]/g, "_");
}

function cookie(affinity: SessionAffinity, name: string, revision: string): StickyCookie {
  const value = cookieValue(revision);
  const attributes = [
    `${name}=${value}`,
    `Max-Age=${affinity.maxAge ?? DEFAULT_MAX_AGE_SECONDS}`,
    affinity.path === undefined ? undefined : `Path=${affinity.path}`,
    affinity.domain === undefined ? undefined : `Domain=${affinity.domain}`,
    affinity.sameSite === undefined ? undefined : `SameSite=${affinity.sameSite}`,
    affinity.secure ? "Secure" : undefined,
    affinity.httpOnly ? "HttpOnly" : undefined,
    affinity.partitioned ? "Partitioned" : undefined,
  ];
  return {
    setCookie: attributes.filter((a) => a !== undefined).join("; "),
    // The whole header must match (Envoy): the cookie first, or after another one's "; ".
    matchRegex: `(.*; *)?${escapeRegex(name)}=${escapeRegex(value)}(;.*)?`,
  };
}

/**
 * The cookies to route by, or undefined when there are none: no sessionAffinity, a strategy other
 * than the progressive canary, no revision, or no split (all traffic on one side).
 */
export function stickySessions(
  spec: ResolvedCanarySpec,
  revision: string | undefined,
  routes: Routes,
): StickySessions | undefined {
  const affinity = spec.analysis.sessionAffinity;
  if (!affinity || spec.strategy.kind !== "canary" || revision === undefined) return undefined;
  if (routes.canaryWeight <= 0 || routes.primaryWeight <= 0) return undefined;
  return {
    canary: cookie(affinity, affinity.cookieName, revision),
    primary:
      affinity.primaryCookieName === undefined
        ? undefined
        : cookie(affinity, affinity.primaryCookieName, revision),
  };
}

/** The routes in front of the split: each cookie, with all of its requests to its side. */
export function cookieRoutes(sticky: StickySessions | undefined): [StickyCookie, Routes][] {
  if (!sticky) return [];
  return [
    [sticky.canary, routeTo(100)],
    ...(sticky.primary ? [[sticky.primary, routeTo(0)] as [StickyCookie, Routes]] : []),
  ];
}
