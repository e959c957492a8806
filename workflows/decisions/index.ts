/** Pure, deterministic rollout decisions: no Temporal, no I/O, no clock, no randomness. */
export { type Strategy, type StrategyKind, selectStrategy } from "../../src/api/strategy.ts";
export * from "./checks.ts";
export * from "./commands.ts";
export * from "./gates.ts";
export * from "./inputs.ts";
export * from "./phases.ts";
export * from "./progress.ts";
export * from "./promotion.ts";
export * from "./revision.ts";
export * from "./rollout.ts";
export * from "./routes.ts";
export * from "./status.ts";
export * from "./weights.ts";
