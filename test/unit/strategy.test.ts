import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Provider } from "../../src/api/canary.ts";
import { type Strategy, type StrategyInputs, selectStrategy } from "../../src/api/strategy.ts";

describe("selectStrategy", () => {
  const match = [{ headers: { user: { exact: "qa" } } }];
  const cases: [string, StrategyInputs, Provider | undefined, Strategy][] = [
    [
      "match and iterations: A/B testing",
      { iterations: 5, match },
      "istio",
      { kind: "ab-testing", mirror: false },
    ],
    [
      "A/B testing never mirrors",
      { iterations: 5, match, mirror: true },
      "istio",
      { kind: "ab-testing", mirror: false },
    ],
    ["iterations: blue/green", { iterations: 5 }, undefined, { kind: "blue-green", mirror: false }],
    [
      "iterations with an empty match: blue/green",
      { iterations: 5, match: [] },
      "istio",
      { kind: "blue-green", mirror: false },
    ],
    [
      "blue/green mirrors when asked",
      { iterations: 5, mirror: true },
      "istio",
      { kind: "blue-green", mirror: true },
    ],
    ["no iterations: canary", { match }, "istio", { kind: "canary", mirror: false }],
    ["canary mirrors when asked", { mirror: true }, "linkerd", { kind: "canary", mirror: true }],
    [
      "kubernetes provider: blue/green",
      { iterations: 5, match, mirror: true },
      "kubernetes",
      { kind: "blue-green", mirror: false },
    ],
    [
      "kubernetes provider without iterations: still blue/green",
      {},
      "kubernetes",
      { kind: "blue-green", mirror: false },
    ],
  ];
  for (const [title, analysis, provider, expected] of cases) {
    test(title, () => assert.deepEqual(selectStrategy(analysis, provider), expected));
  }
});
