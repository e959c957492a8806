/**
 * Webhook types that hold the rollout until they answer 2xx (or an operator approves). A module of
 * its own because workflow code needs it: the workflow bundle must not pull in the schema library,
 * which every cached workflow would evaluate again.
 */
export const GATE_TYPES = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"] as const;
export type GateType = (typeof GATE_TYPES)[number];
