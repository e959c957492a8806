/**
 * The command line against canary workflows on the test world's Temporal (the workflow tests'
 * in-memory cluster as activities): output text without a terminal, `-o json` shapes, exit codes,
 * rejected commands' reasons, --wait, the kubeconfig defaults and one-line errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { webhook } from "../unit/helpers/specs.ts";
import { canarySpec, WorkflowTestWorld } from "../workflows/support.ts";
import { type CliResult, cliEnv, kubeconfig, pluginPath, runCli, startCli } from "./support.ts";

const world = new WorkflowTestWorld();
let env: NodeJS.ProcessEnv;
before(async () => {
  await world.connect();
  await world.startWorker();
  env = cliEnv({ KUBECONFIG: kubeconfig(world.namespace, "kube-alice") });
});
after(() => world.close());

const cli = (...args: string[]) => runCli(args, env);

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** One line on stderr, exit code 1, no stack trace. */
function failed(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
}

const slow = { stepWeight: 20, maxWeight: 60, interval: "2s" };

describe("operator commands", () => {
  it("pause --wait holds the rollout; status shows it in text and JSON; a second pause is rejected with the reason", async () => {
    const canary = await world.startCanary("pause", canarySpec(slow));
    await canary.revise("r2");
    await canary.until("at 20%", (s) => s.routes.canaryWeight === 20);

    const paused = ok(await cli("pause", "pause", "--reason", "ticket 42", "--by", "alice", "--wait"));
    assert.match(paused.stdout, /^pause: Analysing revision r2; paused by an operator\n/);
    assert.match(paused.stdout, /done: Progressing \(paused\), traffic 80% primary, 20% canary\n$/);

    const json = JSON.parse(ok(await cli("status", "pause", "-o", "json")).stdout);
    assert.deepEqual(Object.keys(json).sort(), [
      "checks",
      "gate",
      "iterations",
      "lastCommand",
      "message",
      "metrics",
      "name",
      "namespace",
      "paused",
      "phase",
      "revisions",
      "step",
      "traffic",
      "webhooks",
      "workflowId",
    ]);
    assert.equal(json.namespace, world.namespace, "the kubeconfig context's namespace is the default");
    assert.equal(json.phase, "Progressing");
    assert.equal(json.paused, true);
    assert.deepEqual(json.traffic, { primary: 80, canary: 20, mirror: false });
    assert.deepEqual(json.step, { current: 1, total: 3 });
    assert.deepEqual(json.checks, { failed: 0, threshold: 2 });
    assert.deepEqual(json.revisions, { canary: "r2", primary: "r1", failed: null });
    assert.equal(json.gate, null);
    assert.equal(json.workflowId, `canary/${world.namespace}/pause`);
    assert.deepEqual(
      { command: json.lastCommand.command, by: json.lastCommand.by, reason: json.lastCommand.reason },
      { command: "pause", by: "alice", reason: "ticket 42" },
    );
    for (const metric of json.metrics) {
      assert.deepEqual(Object.keys(metric).sort(), ["max", "message", "min", "name", "value", "verdict"]);
    }

    const text = ok(await cli("status", "pause")).stdout;
    assert.match(text, new RegExp(`^${world.namespace}/pause  Progressing \\(paused\\)  step 1/3\\n`));
    assert.match(text, /\ntraffic {3}primary 80% █{16}░{4} 20% canary\n/);
    assert.match(text, /\nrevision {2}canary r2, primary r1\n/);
    assert.match(text, /\nchecks {4}0 of 2 failed checks allowed\n/);
    assert.match(text, /\ncommand {3}pause by alice at [\d:-]+ [\d:]*.*"ticket 42" \(pause accepted\)\n/);

    failed(
      await cli("pause", "pause", "--by", "alice"),
      /^durable-canary: pause rejected: already paused\n$/,
    );
    await canary.until("still paused at 20%", (s) => s.paused && s.routes.canaryWeight === 20);
  });

  it("abort --wait exits once the traffic is back on the primary; explain and history tell it with the numbers", async () => {
    const canary = await world.startCanary("abort", canarySpec(slow));
    await canary.revise("r2");
    await canary.until("at 20%", (s) => s.routes.canaryWeight === 20);

    // No --by: the kubeconfig context's user sends it.
    const aborted = ok(await cli("abort", "abort", "--reason", "errors in the logs", "--wait"));
    assert.match(aborted.stdout, /^abort: Revision r2 rolled back: aborted by kube-alice/);
    assert.match(aborted.stdout, /done: Failed, traffic 100% primary, 0% canary\n$/);
    assert.equal(canary.model.routes.canaryWeight, 0, "the cluster's route is back on the primary");

    const explained = ok(await cli("explain", "abort")).stdout.split("\n");
    assert.match(explained[0] ?? "", /^revision r2 failed after \d+(ms|s)?/);
    assert.match(
      explained[1] ?? "",
      /^aborted by kube-alice \("errors in the logs"\) at step 1\/3 \(20%\), 0 of 2 failed checks; rolled back at [\d:]+$/,
    );
    assert.ok(explained.includes("now: 100% primary (revision r1), 0% canary"), explained.join("\n"));

    const history = JSON.parse(ok(await cli("history", "abort", "-o", "json")).stdout);
    assert.equal(history.rollouts.length, 1);
    const [rollout] = history.rollouts;
    assert.equal(rollout.revision, "r2");
    assert.equal(rollout.outcome, "Failed");
    assert.equal(rollout.maxWeight, 20);
    assert.deepEqual(
      rollout.commands.map((c: { command: string; by: string; reason: string }) => [
        c.command,
        c.by,
        c.reason,
      ]),
      [["abort", "kube-alice", "errors in the logs"]],
    );
    assert.ok(rollout.start <= rollout.end);

    const table = ok(await cli("history", "abort")).stdout;
    assert.match(table, /^REVISION +OUTCOME +STARTED +DURATION +MAX WEIGHT +COMMANDS\n/);
    assert.match(table, /\nr2 +Failed +[\d:]+ +\S+ +20% +abort by kube-alice \(errors in the logs\)\n$/);

    failed(
      await cli("abort", "abort", "--by", "alice"),
      /^durable-canary: abort rejected: nothing to abort: phase is Failed\n$/,
    );
  });

  it("approve: a wrong --gate is rejected with the pending gate's name; the right one opens it with --wait", async () => {
    const canary = await world.startCanary(
      "gate",
      canarySpec({ stepWeight: 50, maxWeight: 50, webhooks: [webhook("confirm", "confirm-promotion")] }),
    );
    canary.model.webhookAnswers.set("confirm-promotion", "fail");
    await canary.revise("r2");
    await canary.until("held at confirm-promotion", (s) => s.pendingGate?.gate === "confirm-promotion");

    const status = JSON.parse(ok(await cli("status", "gate", "-o", "json")).stdout);
    assert.equal(status.gate.name, "confirm-promotion");
    assert.equal(status.gate.deadline, null);
    assert.match(
      ok(await cli("status", "gate")).stdout,
      /\ngate {6}confirm-promotion pending since [\d:]+, no deadline\n/,
    );

    failed(
      await cli("approve", "gate", "--gate", "confirm-rollout", "--by", "bob"),
      /^durable-canary: approve rejected: cannot approve confirm-rollout: the pending gate is confirm-promotion\n$/,
    );
    failed(await cli("approve", "gate", "--gate", "nope"), /unknown gate nope: use one of confirm-rollout/);
    const approved = ok(await cli("approve", "gate", "--gate", "confirm-promotion", "--by", "bob", "--wait"));
    assert.match(approved.stdout, /^approve: /);
    await canary.settled("Succeeded");
  });
});

describe("watch", () => {
  it("prints one line per change without a terminal and exits 0 when the rollout succeeds", async () => {
    const canary = await world.startCanary("watch-ok", canarySpec({ stepWeight: 20, maxWeight: 40 }));
    // Watching the idle canary first: a rollout that ended before the watch's first read is not
    // the one it waits for (it waits for the next).
    const watching = startCli(["watch", "watch-ok"], env);
    await watching.firstOutput;
    await canary.revise("r2");
    const watched = ok(await watching.done);
    const lines = watched.stdout.trim().split("\n");
    assert.ok(lines.length >= 2, watched.stdout);
    assert.ok(
      lines.every((line) => /^[\d:]+ \w+( \(paused\))?: \d+% canary/.test(line)),
      watched.stdout,
    );
    assert.match(
      lines.at(-1) ?? "",
      /^[\d:]+ Succeeded: 0% canary, 0 of 2 failed checks allowed - Revision r2 promoted$/,
    );
    assert.equal(
      new Set(lines.map((l) => l.replace(/^[\d:]+ /, ""))).size,
      lines.length,
      "a line per change only",
    );
  });

  it("exits 1 when the rollout fails; -o json prints one status per line", async () => {
    const canary = await world.startCanary("watch-fail", canarySpec({ stepWeight: 20, maxWeight: 60 }));
    canary.model.successRate = 50;
    const watching = startCli(["watch", "watch-fail", "-o", "json"], env);
    await watching.firstOutput;
    await canary.revise("r2");
    const watched = await watching.done;
    assert.equal(watched.code, 1, watched.stderr);
    const statuses = watched.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(statuses.at(-1).phase, "Failed");
    assert.match(statuses.at(-1).message, /request-success-rate 50\.00 < 99/);

    const explained = ok(await cli("explain", "watch-fail", "-o", "json"));
    const explanation = JSON.parse(explained.stdout);
    assert.equal(explanation.rollout.outcome, "Failed");
    assert.deepEqual(explanation.failing, ["request-success-rate 50.00 < 99"]);
    assert.match(
      explanation.lines[1],
      /^request-success-rate 50\.00 < 99 at step \d\/3 \(\d+%\), 2 of 2 failed checks; rolled back at [\d:]+$/,
    );
  });
});

describe("list, ui and errors", () => {
  it("list shows the namespace's canaries from visibility; -A every namespace; -o json", async () => {
    await world.startCanary("listed", canarySpec(slow));
    const items = JSON.parse(ok(await cli("list", "-o", "json")).stdout).items as {
      name: string;
      namespace: string;
    }[];
    assert.ok(items.length > 0 && items.every((i) => i.namespace === world.namespace), JSON.stringify(items));
    const listed = items.find((i) => i.name === "listed");
    assert.deepEqual(Object.keys(listed ?? {}).sort(), [
      "name",
      "namespace",
      "phase",
      "revision",
      "since",
      "weight",
    ]);
    assert.equal((listed as unknown as { phase: string }).phase, "Initialized");

    const text = ok(await cli("list")).stdout;
    assert.match(text, /^NAMESPACE +NAME +PHASE +WEIGHT +REVISION +AGE\n/);
    assert.match(text, new RegExp(`\\n${world.namespace} +listed +Initialized +0% +r1 +\\S+\\n`));

    const all = JSON.parse(ok(await cli("list", "-A", "-o", "json")).stdout).items as { namespace: string }[];
    assert.ok(all.some((i) => i.namespace === world.namespace));
  });

  it("ui prints the workflow's deep link with its run, the rollouts and the live canaries' list", async () => {
    const canary = await world.startCanary("linked", canarySpec(slow));
    const { runId } = await canary.handle.describe();
    const env2 = { ...env, DURABLE_CANARY_UI_ADDRESS: "http://ui.example:8233/" };
    const links = JSON.parse(ok(await runCli(["ui", "linked", "-o", "json"], env2)).stdout);
    assert.equal(
      links.workflow,
      `http://ui.example:8233/namespaces/default/workflows/canary%2F${world.namespace}%2Flinked/${runId}/history`,
    );
    assert.equal(
      links.canaries,
      `http://ui.example:8233/namespaces/default/workflows?query=${encodeURIComponent('WorkflowType="canaryWorkflow" AND ExecutionStatus="Running"')}`,
    );
    assert.match(ok(await cli("ui", "linked")).stdout, /^workflow {2}http:\/\/localhost:8233\/namespaces\//);
  });

  it("errors are one line with exit 1: unknown canary (naming the namespace that has it), unreachable Temporal, bad names", async () => {
    await world.startCanary("elsewhere", canarySpec(slow));
    failed(
      await cli("status", "elsewhere", "-n", "other-ns"),
      new RegExp(
        `^durable-canary: canary elsewhere not found in namespace other-ns .*one exists in namespaces? (\\S+, )*${world.namespace}(, \\S+)* \\(use -n\\)\\n$`,
      ),
    );
    failed(await cli("status", "nobody"), /not found in namespace .*is the namespace right\?/);
    failed(await cli("history", "nobody"), /^durable-canary: canary nobody not found in namespace/);
    failed(
      await cli("abort", "nobody", "--by", "x"),
      /^durable-canary: canary nobody not found in namespace/,
    );
    failed(await cli("status", "Bad_Name"), /canary name "Bad_Name" is not a valid Kubernetes name/);
    failed(
      await runCli(["list"], { ...env, TEMPORAL_ADDRESS: "127.0.0.1:1" }),
      /^durable-canary: cannot reach Temporal at 127\.0\.0\.1:1: /,
    );
  });

  it("runs as the kubectl plugin kubectl-canary", async () => {
    await world.startCanary("plugin", canarySpec(slow));
    const result = ok(await runCli(["status", "plugin", "-o", "json"], env, pluginPath));
    assert.equal(JSON.parse(result.stdout).phase, "Initialized");
    const help = ok(await runCli(["--help"], env, pluginPath)).stdout;
    assert.match(help, /^Usage: kubectl canary /);
    assert.doesNotMatch(help, /\brun\b.*operator/, "the plugin has no operator command");
    failed(await runCli(["status", "nobody"], env, pluginPath), /^kubectl canary: canary nobody not found/);
  });
});
