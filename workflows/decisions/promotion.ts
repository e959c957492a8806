/**
 * Shifting traffic back to the primary once it runs the new revision: all at once, or
 * stepWeightPromotion per interval.
 */
import { PRIMARY_ONLY, type Route, routeTo } from "./routes.ts";

export function nextPromotionRoute(stepWeightPromotion: number | undefined, route: Route): Route {
  if (stepWeightPromotion === undefined || stepWeightPromotion <= 0) return PRIMARY_ONLY;
  return routeTo(Math.max(0, route.canaryWeight - stepWeightPromotion));
}

/** The routes promotion passes through from `from`, ending with all traffic on the primary. */
export function promotionRoutePlan(stepWeightPromotion: number | undefined, from: Route): Route[] {
  const plan: Route[] = [];
  let route = from;
  do {
    route = nextPromotionRoute(stepWeightPromotion, route);
    plan.push(route);
  } while (route.canaryWeight > 0);
  return plan;
}
