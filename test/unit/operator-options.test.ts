import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Command } from "commander";
import { parseListen } from "../../src/operator/http.ts";
import { statusValue } from "../../src/operator/metrics.ts";
import { operatorConfig, type RunFlags, runOptions } from "../../src/operator/options.ts";

function parse(args: string[]): RunFlags {
  const command = runOptions(new Command("run").exitOverride());
  command.parse(args, { from: "user" });
  return command.opts<RunFlags>();
}

describe("run flags", () => {
  it("default to one install on the default task queue, leading by Lease", () => {
    const flags = parse([]);
    assert.equal(flags.role, "all");
    assert.equal(flags.listen, ":8080");
    assert.equal(flags.taskQueue, "durable-canary");
    assert.equal(flags.leaderElection, true);
    assert.equal(flags.leaseDuration, 15_000);
    assert.equal(flags.crossNamespaceRefs, true);
    assert.equal(flags.workflowCacheSize, 1000);
  });

  it("take a workflow cache size as a whole number of at least 2", () => {
    assert.equal(parse(["--workflow-cache-size", "5000"]).workflowCacheSize, 5000);
    for (const bad of ["1", "0", "-5", "1.5", "lots"])
      assert.throws(() => parse(["--workflow-cache-size", bad]), /at least 2/, bad);
  });

  it("take Flagger's flags, over the configuration file", () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-options-"));
    const file = join(dir, "operator.yaml");
    writeFileSync(file, "meshProvider: gatewayapi:v1\nclusterName: from-file\nenableConfigTracking: true\n");
    const config = operatorConfig(
      parse([
        "--config",
        file,
        "--cluster-name",
        "prod-eu",
        "--selector-labels",
        "app.kubernetes.io/name, app",
        "--enable-config-tracking=false",
        "--no-cross-namespace-refs",
        "--slack-url",
        "https://hooks.slack.example.test/x",
        "--slack-channel",
        "#deploys",
      ]),
    );
    assert.equal(config.meshProvider, "gatewayapi:v1");
    assert.equal(config.clusterName, "prod-eu");
    assert.deepEqual(config.selectorLabels, ["app.kubernetes.io/name", "app"]);
    assert.equal(config.configTracking, false);
    assert.equal(config.crossNamespaceRefs, false);
    assert.equal(config.globalAlertProvider?.type, "slack");
    assert.equal(config.globalAlertProvider?.channel, "#deploys");
  });

  it("--deny-local-destinations overrides the file and the embedded-Temporal default", () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-options-"));
    const file = join(dir, "operator.yaml");
    writeFileSync(file, "denyLocalDestinations: true\n");
    const embedded = { embeddedTemporal: true };
    assert.equal(operatorConfig(parse([]), embedded).denyLocalDestinations, true);
    assert.equal(operatorConfig(parse([]), { embeddedTemporal: false }).denyLocalDestinations, false);
    assert.equal(
      operatorConfig(parse(["--deny-local-destinations", "false"]), embedded).denyLocalDestinations,
      false,
    );
    assert.equal(operatorConfig(parse(["--config", file])).denyLocalDestinations, true);
    assert.equal(
      operatorConfig(parse(["--config", file, "--deny-local-destinations=false"])).denyLocalDestinations,
      false,
    );
    assert.throws(() => parse(["--deny-local-destinations", "maybe"]), /must be true or false/);
  });

  it("refuse two global notifiers, a bad duration and a bad role", () => {
    assert.throws(
      () => operatorConfig(parse(["--slack-url", "http://a.test/", "--msteams-url", "http://b.test/"])),
      /one global notifier at most/,
    );
    assert.throws(() => parse(["--lease-duration", "soon"]), /must be a duration/);
    assert.throws(() => parse(["--role", "boss"]), /Allowed choices are all, controller, worker/);
  });

  it("--listen accepts host:port, :port and port", () => {
    assert.deepEqual(parseListen(":8080"), { host: undefined, port: 8080 });
    assert.deepEqual(parseListen("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen("[::1]:9090"), { host: "::1", port: 9090 });
    assert.throws(() => parseListen("eight"), /--listen must be/);
  });
});

describe("flagger_canary_status", () => {
  it("is 0 while rolling out, 2 when failed, 1 otherwise", () => {
    assert.deepEqual(
      ["Progressing", "WaitingPromotion", "Failed", "Succeeded", "Initialized", undefined].map(statusValue),
      [0, 0, 2, 1, 1, 1],
    );
  });
});
