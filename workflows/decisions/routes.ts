/** Traffic split between the primary and the canary, as the router applies it. */

/** Weights always add up to this, as in Flagger. */
export const TOTAL_WEIGHT = 100;

export interface Route {
  readonly primaryWeight: number;
  readonly canaryWeight: number;
  /** Primary serves users while a copy of the traffic goes to the canary. */
  readonly mirror: boolean;
}

export function routeTo(canaryWeight: number, mirror = false): Route {
  return { primaryWeight: TOTAL_WEIGHT - canaryWeight, canaryWeight, mirror };
}

/** All traffic on the primary: the route at rest and after a rollback. */
export const PRIMARY_ONLY: Route = routeTo(0);

export function sameRoute(a: Route, b: Route): boolean {
  return a.primaryWeight === b.primaryWeight && a.canaryWeight === b.canaryWeight && a.mirror === b.mirror;
}
