/**
 * The `run` command's flags, with Flagger's names and meanings where Flagger has them, and how
 * they combine with the configuration file (a flag wins over the file).
 */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { load } from "js-yaml";
import { DurationError, parseDuration } from "../api/duration.ts";
import { type OperatorConfig, parseOperatorConfig, type RunContext } from "../config/operator.ts";
import { LOG_FORMATS, type LogFormat } from "../log.ts";
import { DEFAULT_WORKFLOW_CACHE_SIZE } from "../temporal/worker-tuning.ts";

export const ROLES = ["all", "controller", "worker"] as const;
export type Role = (typeof ROLES)[number];

export interface RunFlags {
  role: Role;
  kubeconfig?: string;
  config?: string;
  namespace?: string;
  listen: string;
  taskQueue: string;
  workflowCacheSize: number;
  stateDir?: string;
  leaderElection: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  leaseDuration: number;
  finalizeTimeout: number;
  resyncPeriod: number;
  logLevel?: string;
  logFormat?: LogFormat;
  meshProvider?: string;
  metricsServer?: string;
  clusterName?: string;
  selectorLabels?: string[];
  includeLabelPrefix?: string[];
  enableConfigTracking?: boolean;
  eventWebhook?: string;
  crossNamespaceRefs: boolean;
  denyLocalDestinations?: boolean;
  slackUrl?: string;
  slackChannel?: string;
  slackUser?: string;
  slackProxyUrl?: string;
  msteamsUrl?: string;
  msteamsProxyUrl?: string;
  discordUrl?: string;
  rocketUrl?: string;
  gchatUrl?: string;
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

function bool(value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new InvalidArgumentError("must be true or false");
}

function count(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < 2)
    throw new InvalidArgumentError("must be a whole number of at least 2");
  return parsed;
}

function ms(value: string): number {
  try {
    const parsed = parseDuration(value);
    if (parsed <= 0) throw new InvalidArgumentError("must be longer than 0s");
    return parsed;
  } catch (err) {
    if (err instanceof DurationError)
      throw new InvalidArgumentError(`must be a duration such as "15s" (${err.problem})`);
    throw err;
  }
}

/** Adds the run flags to a command. */
export function runOptions(command: Command): Command {
  return command
    .addOption(new Option("--role <role>", "what this process runs").choices(ROLES).default("all"))
    .option(
      "--kubeconfig <path>",
      "kubeconfig of the cluster to act on (default: KUBECONFIG, in-cluster, ~/.kube/config)",
    )
    .option("--config <path>", "operator configuration file (YAML or JSON); flags override it")
    .option("--namespace <namespace>", "watch Canaries in this namespace only (default: all namespaces)")
    .option("--listen <address>", "address of /healthz, /readyz and /metrics", ":8080")
    .option("--task-queue <name>", "Temporal task queue of the canary workflows", "durable-canary")
    .option(
      "--workflow-cache-size <count>",
      "canary workflows the worker keeps in memory (about 0.3 MiB each); the others are replayed when they wake",
      count,
      DEFAULT_WORKFLOW_CACHE_SIZE,
    )
    .option("--state-dir <path>", "embedded Temporal: folder of its database and log")
    .option("--no-leader-election", "run the controller without a Lease (only with a single replica)")
    .option(
      "--leader-election-namespace <namespace>",
      "namespace of the Lease (default: POD_NAMESPACE, else default)",
    )
    .option("--leader-election-id <name>", "name of the Lease", "durable-canary-leader")
    .option("--lease-duration <duration>", "how long a leader's Lease lasts without renewal", ms, 15_000)
    .option(
      "--finalize-timeout <duration>",
      "how long a deleted Canary waits for its workflow to finalize before the finalizer is removed anyway",
      ms,
      60_000,
    )
    .option("--resync-period <duration>", "how often every Canary's state is sent again", ms, 10 * 60_000)
    .option("--log-level <level>", "trace, debug, info, warn or error (default: LOG_LEVEL, else info)")
    .addOption(
      new Option(
        "--log-format <format>",
        "json lines, text for people, or auto: text on a terminal, else json (default: LOG_FORMAT, else auto)",
      ).choices(LOG_FORMATS),
    )
    .option("--mesh-provider <provider>", "traffic provider of Canaries that name none")
    .option("--metrics-server <url>", "Prometheus for the builtin metrics")
    .option("--cluster-name <name>", "shown in alerts")
    .option("--selector-labels <labels>", "labels that identify a workload's pods, comma-separated", list)
    .option("--include-label-prefix <prefixes>", "workload label prefixes copied to generated objects", list)
    .option("--enable-config-tracking <bool>", "copy and track ConfigMaps and Secrets (default true)", bool)
    .option("--event-webhook <url>", "receives the events of every Canary that declares no event webhook")
    .option(
      "--no-cross-namespace-refs",
      "refuse MetricTemplate and AlertProvider references to other namespaces",
    )
    .option(
      "--deny-local-destinations <bool>",
      "refuse loopback and link-local addresses for webhooks, metrics and alerts (default: true with the embedded Temporal server, else false)",
      bool,
    )
    .option("--slack-url <url>", "global Slack webhook (for Canaries without alerts of their own)")
    .option("--slack-channel <channel>", "global Slack channel")
    .option("--slack-user <name>", "global Slack user name")
    .option("--slack-proxy-url <url>", "proxy for the global Slack webhook")
    .option("--msteams-url <url>", "global Microsoft Teams webhook")
    .option("--msteams-proxy-url <url>", "proxy for the global Microsoft Teams webhook")
    .option("--discord-url <url>", "global Discord webhook")
    .option("--rocket-url <url>", "global Rocket.Chat webhook")
    .option("--gchat-url <url>", "global Google Chat webhook");
}

/** The global notifier the flags name; at most one. */
function globalAlertFromFlags(flags: RunFlags): Record<string, unknown> | undefined {
  const given = [
    flags.slackUrl && { type: "slack", address: flags.slackUrl, proxy: flags.slackProxyUrl },
    flags.msteamsUrl && { type: "msteams", address: flags.msteamsUrl, proxy: flags.msteamsProxyUrl },
    flags.discordUrl && { type: "discord", address: flags.discordUrl },
    flags.rocketUrl && { type: "rocket", address: flags.rocketUrl },
    flags.gchatUrl && { type: "gchat", address: flags.gchatUrl },
  ].filter((p): p is { type: string; address: string; proxy?: string } => Boolean(p));
  if (given.length > 1) {
    throw new Error(
      `one global notifier at most: got ${given.map((p) => `--${p.type}-url`).join(" and ")}; use AlertProviders for more`,
    );
  }
  const provider = given[0];
  if (!provider) return undefined;
  return {
    ...provider,
    ...(flags.slackChannel ? { channel: flags.slackChannel } : {}),
    ...(flags.slackUser ? { username: flags.slackUser } : {}),
  };
}

/** The operator configuration: the file, then the flags on top. */
export function operatorConfig(flags: RunFlags, context?: RunContext): OperatorConfig {
  // js-yaml, not the Kubernetes client's loader: that library takes half a second to load.
  const file = flags.config
    ? ((load(readFileSync(flags.config, "utf8")) ?? {}) as Record<string, unknown>)
    : {};
  const fromFlags: Record<string, unknown> = {
    meshProvider: flags.meshProvider,
    metricsServer: flags.metricsServer,
    clusterName: flags.clusterName,
    selectorLabels: flags.selectorLabels,
    includeLabelPrefix: flags.includeLabelPrefix,
    enableConfigTracking: flags.enableConfigTracking,
    eventWebhook: flags.eventWebhook,
    noCrossNamespaceRefs: flags.crossNamespaceRefs === false ? true : undefined,
    denyLocalDestinations: flags.denyLocalDestinations,
    globalAlertProvider: globalAlertFromFlags(flags),
  };
  const defined = Object.fromEntries(Object.entries(fromFlags).filter(([, v]) => v !== undefined));
  return parseOperatorConfig({ ...(file ?? {}), ...defined }, context);
}
