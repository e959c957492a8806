/**
 * The command line's commands on the program: read commands (list, status, watch, explain,
 * history, ui) and operator commands (approve, skip, abort, pause, resume, retry). Each command's
 * module is imported when it runs, so a command starts without loading the others.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { type Command as CanaryCommand, COMMANDS } from "../../workflows/messages.ts";
import type { CommandOptions } from "./command.ts";
import type { CliContext, CommonOptions } from "./context.ts";

/** The names of the command line's commands, for main to tell them from the operator's `run`. */
export const CLI_COMMANDS: readonly string[] = [
  "list",
  "status",
  "watch",
  "explain",
  "history",
  "ui",
  ...COMMANDS,
];

const commandHelp: Record<CanaryCommand, string> = {
  approve: "open the pending gate (confirm-rollout, confirm-traffic-increase or confirm-promotion)",
  skip: "skip the rest of the analysis and promote the canary now",
  abort: "roll the canary back now: all traffic to the primary",
  pause: "hold the rollout where it is (no step, no promotion, no rollback) until resumed",
  resume: "continue a paused rollout",
  retry: "roll the last failed revision out again",
};

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

function withCommon(command: Command, read: boolean): Command {
  command
    .option(
      "-n, --namespace <namespace>",
      "the canary's Kubernetes namespace (default: the kubeconfig context's, else default)",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: the current context)");
  if (read)
    command.addOption(
      new Option("-o, --output <format>", "output format: json (stable, see docs/cli.md) or text").choices([
        "json",
        "text",
      ]),
    );
  return command;
}

/** Runs a command body with its context, closing the Temporal connection and making errors one line. */
async function run(options: CommonOptions, body: (ctx: CliContext) => Promise<void>): Promise<void> {
  const [{ CliContext }, { CliError, describeError }] = await Promise.all([
    import("./context.ts"),
    import("./errors.ts"),
  ]);
  let ctx: CliContext | undefined;
  try {
    ctx = new CliContext(options);
    await body(ctx);
  } catch (err) {
    throw new CliError(describeError(err, ctx?.temporalAddress()));
  } finally {
    await ctx?.close();
  }
}

export function registerCliCommands(program: Command): void {
  withCommon(program.command("list"), true)
    .description("list the canaries: namespace, name, phase, weight, target revision, age")
    .option("-A, --all-namespaces", "list the canaries of every namespace")
    .action((options: CommonOptions & { allNamespaces?: boolean }) =>
      run(options, async (ctx) => (await import("./list.ts")).list(ctx, options)),
    );
  withCommon(program.command("status").argument("<name>", "the Canary's name"), true)
    .description(
      "show a canary's phase, traffic, step, checks, metrics, webhooks, pending gate and last command",
    )
    .action((name: string, options: CommonOptions) =>
      run(options, async (ctx) => (await import("./status.ts")).status(ctx, name)),
    );
  withCommon(program.command("watch").argument("<name>", "the Canary's name"), true)
    .description(
      "follow a rollout live until it ends (exit 0 when it succeeds, 1 when it fails); one line per change when not on a terminal",
    )
    .action((name: string, options: CommonOptions) =>
      run(options, async (ctx) => (await import("./watch.ts")).watch(ctx, name)),
    );
  withCommon(program.command("explain").argument("<name>", "the Canary's name"), true)
    .description("say why the last rollout ended as it did, with the numbers")
    .action((name: string, options: CommonOptions) =>
      run(options, async (ctx) => (await import("./explain.ts")).explain(ctx, name)),
    );
  withCommon(program.command("history").argument("<name>", "the Canary's name"), true)
    .description("list past rollouts: revision, outcome, start, duration, max weight, commands")
    .option("--limit <n>", "how many rollouts", positiveNumber, 10)
    .action((name: string, options: CommonOptions & { limit: number }) =>
      run(options, async (ctx) => (await import("./history.ts")).history(ctx, name, options)),
    );
  withCommon(program.command("ui").argument("<name>", "the Canary's name"), true)
    .description("print the Temporal UI links of a canary's workflow (and open it with --open)")
    .option(
      "--ui-address <url>",
      "the Temporal Web UI (default: DURABLE_CANARY_UI_ADDRESS, else http://localhost:8233)",
    )
    .option("--open", "open the workflow's page with xdg-open")
    .action((name: string, options: CommonOptions & { open?: boolean }) =>
      run(options, async (ctx) => (await import("./ui.ts")).ui(ctx, name, options)),
    );
  for (const command of COMMANDS) {
    const sub = withCommon(program.command(command).argument("<name>", "the Canary's name"), false)
      .description(commandHelp[command])
      .option("--reason <text>", "why: kept in the workflow's history and the canary's timeline")
      .option("--by <who>", "who sends it (default: the kubeconfig context's user, else the OS user)")
      .option("--wait", "wait until the effect shows in the canary's status")
      .option("--timeout <seconds>", "how long --wait waits", positiveNumber, 120);
    if (command === "approve")
      sub.option("--gate <gate>", "the gate meant; a different pending gate is not opened");
    sub.action((name: string, options: CommonOptions & Record<string, unknown>) =>
      run(options, async (ctx) =>
        (await import("./command.ts")).runCommand(ctx, command, name, options as CommandOptions),
      ),
    );
  }
}
