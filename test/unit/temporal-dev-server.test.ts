import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { devServerArgs } from "../../src/temporal/dev-server.ts";
import { searchAttributeFlags } from "../../src/temporal/search-attributes.ts";

describe("dev server command line", () => {
  it("registers the canary search attributes with their types", () => {
    assert.deepEqual(searchAttributeFlags(), [
      "--search-attribute",
      "CanaryName=Keyword",
      "--search-attribute",
      "CanaryNamespace=Keyword",
      "--search-attribute",
      "CanaryPhase=Keyword",
      "--search-attribute",
      "CanaryWeight=Int",
      "--search-attribute",
      "TargetRevision=Keyword",
    ]);
  });

  it("binds every port it is given on the given address, with the UI on", () => {
    const args = devServerArgs({ ip: "127.0.0.1", port: 7233, uiPort: 8233, namespace: "default" });
    assert.deepEqual(args.slice(0, 10), [
      "server",
      "start-dev",
      "--ip",
      "127.0.0.1",
      "--port",
      "7233",
      "--ui-port",
      "8233",
      "--namespace",
      "default",
    ]);
    assert.ok(!args.includes("--headless"));
    assert.ok(!args.includes("--db-filename"), "no file: state in memory");
    assert.deepEqual(args.slice(10, 12), [
      "--dynamic-config-value",
      'history.timerProcessorMaxTimeShift="10ms"',
    ]);
    assert.deepEqual(args.slice(12), searchAttributeFlags());
  });

  it("passes the database file, extra ports and dynamic config as JSON values", () => {
    const args = devServerArgs({
      ip: "127.0.0.1",
      port: 1,
      uiPort: 2,
      httpPort: 3,
      metricsPort: 4,
      namespace: "ns",
      dbFile: "/state/temporal.sqlite",
      dynamicConfig: { "limit.maxIDLength": 1000, "system.enableEagerWorkflowStart": true, "x.mode": "fast" },
    });
    const after = (flag: string) => args.filter((_, i) => args[i - 1] === flag);
    assert.deepEqual(after("--http-port"), ["3"]);
    assert.deepEqual(after("--metrics-port"), ["4"]);
    assert.deepEqual(after("--db-filename"), ["/state/temporal.sqlite"]);
    assert.deepEqual(after("--dynamic-config-value"), [
      'history.timerProcessorMaxTimeShift="10ms"',
      "limit.maxIDLength=1000",
      "system.enableEagerWorkflowStart=true",
      'x.mode="fast"',
    ]);
  });
});
