/**
 * The operator's own configuration: what applies to every canary unless the Canary says otherwise.
 * It mirrors Flagger's install-time options (mesh provider, metrics server, cluster name, a global
 * Slack/Teams/... notifier) so that a Flagger install maps onto it one to one.
 */
import { z } from "zod";
import type { AlertSeverity } from "../api/canary.ts";
import { ALERT_PROVIDER_TYPES, ALERT_SEVERITIES, PROVIDERS, type Provider } from "../api/canary.ts";
import { DEFAULTS } from "../api/defaults.ts";
import { DurationError, parseDuration } from "../api/duration.ts";
import { fieldPath } from "../api/validate.ts";
import { DEFAULT_SELECTOR_LABELS } from "../kube/metadata.ts";

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
    message: 'must be an http(s) URL such as "http://prometheus.monitoring:9090"',
  });

const duration = z.string().superRefine((value, ctx) => {
  try {
    if (parseDuration(value) <= 0) ctx.addIssue({ code: "custom", message: "must be longer than 0s" });
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    ctx.addIssue({ code: "custom", message: `must be a duration such as "10s" (${error.problem})` });
  }
});

/**
 * The notifier every canary's alerts also go to (Flagger's `--slack-url`, `--msteams-url`, ...), with
 * the same fields as an AlertProvider. Its secret lives in a namespace the operator names here.
 */
const GlobalAlertProviderSchema = z
  .object({
    type: z.enum(ALERT_PROVIDER_TYPES),
    address: httpUrl.optional(),
    secretRef: z.object({ namespace: z.string().min(1), name: z.string().min(1) }).optional(),
    channel: z.string().optional(),
    username: z.string().optional(),
    proxy: httpUrl.optional(),
    /** The lowest severity it receives: info receives everything, error only errors. */
    severity: z.enum(ALERT_SEVERITIES).default("info"),
  })
  .refine((provider) => provider.address !== undefined || provider.secretRef !== undefined, {
    message: "needs address, or secretRef naming a Secret with an address key",
  });

const OperatorConfigSchema = z.object({
  /** The traffic provider of Canaries that name none. */
  meshProvider: z.enum(PROVIDERS).default(DEFAULTS.provider),
  /** Prometheus for the builtin metrics and for MetricTemplates without an address. */
  metricsServer: httpUrl.default("http://prometheus:9090"),
  /** How long one metric query may take. */
  metricsQueryTimeout: duration.default("10s"),
  /** Shown in alerts, so that people with several clusters know which one speaks. */
  clusterName: z.string().optional(),
  globalAlertProvider: GlobalAlertProviderSchema.optional(),
  /** Labels that identify a workload's pods, in order of preference. */
  selectorLabels: z
    .array(z.string().min(1))
    .min(1)
    .default([...DEFAULT_SELECTOR_LABELS]),
  /** Prefixes of workload labels copied to generated objects ("*" for all). */
  includeLabelPrefix: z.array(z.string().min(1)).default([]),
  /** Copy referenced ConfigMaps and Secrets for the primary, and roll out when they change. */
  enableConfigTracking: z.boolean().default(true),
  /** Receives the events of every Canary that declares no event webhook. */
  eventWebhook: httpUrl.optional(),
  /** Refuse MetricTemplate and AlertProvider references to another namespace. */
  noCrossNamespaceRefs: z.boolean().default(false),
  /**
   * Refuse loopback and link-local destinations for webhooks, metrics and alerts. Unset: on when
   * the operator runs the embedded Temporal server, whose HTTP API listens on loopback.
   */
  denyLocalDestinations: z.boolean().optional(),
});

export type OperatorConfigInput = z.input<typeof OperatorConfigSchema>;

export interface GlobalAlertProvider {
  readonly type: (typeof ALERT_PROVIDER_TYPES)[number];
  readonly address: string | undefined;
  readonly secretRef: { readonly namespace: string; readonly name: string } | undefined;
  readonly channel: string | undefined;
  readonly username: string | undefined;
  readonly proxy: string | undefined;
  readonly severity: AlertSeverity;
}

export interface OperatorConfig {
  readonly meshProvider: Provider;
  readonly selectorLabels: readonly string[];
  readonly includeLabelPrefixes: readonly string[];
  readonly configTracking: boolean;
  readonly eventWebhook: string | undefined;
  readonly crossNamespaceRefs: boolean;
  /** Webhooks, metrics and alerts may not reach loopback or link-local addresses. */
  readonly denyLocalDestinations: boolean;
  readonly metricsServer: string;
  readonly metricsQueryTimeoutMs: number;
  readonly clusterName: string | undefined;
  readonly globalAlertProvider: GlobalAlertProvider | undefined;
}

export class OperatorConfigError extends Error {
  override name = "OperatorConfigError";
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid operator configuration: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

/** What the operator knows about how it runs, for the defaults that depend on it. */
export interface RunContext {
  /** The operator starts its own Temporal server (no TEMPORAL_ADDRESS). */
  readonly embeddedTemporal: boolean;
}

/** Checks the configuration and fills in defaults; the error names each bad field. */
export function parseOperatorConfig(
  input: unknown = {},
  context: RunContext = { embeddedTemporal: false },
): OperatorConfig {
  const result = OperatorConfigSchema.safeParse(input);
  if (!result.success) {
    throw new OperatorConfigError(
      result.error.issues.map(
        (issue) => `${fieldPath(issue.path).replace(/^spec$/, "config")} ${issue.message}`,
      ),
    );
  }
  const config = result.data;
  const alerts = config.globalAlertProvider;
  return {
    meshProvider: config.meshProvider,
    selectorLabels: config.selectorLabels,
    includeLabelPrefixes: config.includeLabelPrefix,
    configTracking: config.enableConfigTracking,
    eventWebhook: config.eventWebhook,
    crossNamespaceRefs: !config.noCrossNamespaceRefs,
    denyLocalDestinations: config.denyLocalDestinations ?? context.embeddedTemporal,
    metricsServer: config.metricsServer,
    metricsQueryTimeoutMs: parseDuration(config.metricsQueryTimeout),
    clusterName: config.clusterName,
    globalAlertProvider:
      alerts === undefined
        ? undefined
        : {
            type: alerts.type,
            address: alerts.address,
            secretRef: alerts.secretRef,
            channel: alerts.channel,
            username: alerts.username,
            proxy: alerts.proxy,
            severity: alerts.severity,
          },
  };
}
