/**
 * The alert activity: sends one alert to every AlertProvider of the canary whose severity accepts
 * it, and to the operator's global provider. Each provider type posts its service's native
 * format to the hook address (from the AlertProvider or its Secret), through its proxy if any.
 *
 * Temporal may run the activity again when a delivery failed; providers already reached are
 * remembered in the heartbeat details and skipped, so a retry does not post twice.
 *
 * Addresses and proxies (often from Secrets) are checked when used, failures name where the
 * address came from, and failure messages are redacted: a chat hook's address is its credential.
 */
import { ApplicationFailure } from "@temporalio/common";
import type { AlertProviderSpec, AlertSeverity } from "../../src/api/canary.ts";
import { DEFAULTS, type ResolvedAlert } from "../../src/api/defaults.ts";
import { validateAlertProvider } from "../../src/api/validate.ts";
import type { OperatorConfig } from "../../src/config/operator.ts";
import { checkAddress, DestinationError } from "../../src/net/destination.ts";
import { redact } from "../../src/net/redact.ts";
import type { Alert, Target } from "../../workflows/activity-port.ts";
import { excerpt, HttpFailure, heartbeat, httpRequest, previousHeartbeat } from "../analysis-http.ts";
import { AnalysisResourceError, type AnalysisResources } from "../analysis-resources.ts";
import { discordFormat } from "./discord.ts";
import { gchatFormat } from "./gchat.ts";
import { type AlertFormat, type AlertMessage, alertMessage, receives } from "./message.ts";
import { msteamsFormat } from "./msteams.ts";
import { rocketFormat } from "./rocket.ts";
import { slackFormat } from "./slack.ts";

export const alertFormats: Readonly<Record<AlertProviderSpec["type"], AlertFormat>> = {
  slack: slackFormat,
  msteams: msteamsFormat,
  discord: discordFormat,
  rocket: rocketFormat,
  gchat: gchatFormat,
};

export interface AlertDependencies {
  readonly resources: AnalysisResources;
  readonly config: Pick<
    OperatorConfig,
    "clusterName" | "globalAlertProvider" | "crossNamespaceRefs" | "denyLocalDestinations"
  >;
  /** Per delivery; chat services answer within a second or two when they answer at all. */
  readonly timeoutMs?: number | undefined;
}

/** The error type of a delivery that retrying cannot fix (missing provider, bad address, 4xx). */
export const ALERT_NOT_DELIVERED = "AlertNotDelivered";

const DEFAULT_TIMEOUT_MS = 10_000;

/** Where and how one alert is posted. */
interface Delivery {
  readonly type: AlertProviderSpec["type"];
  readonly address: string;
  readonly proxy: string | undefined;
  readonly channel: string | undefined;
  readonly username: string | undefined;
  /** A Slack bot token (chat.postMessage), from the Secret's `token` key. */
  readonly token: string | undefined;
}

/** One provider the alert goes to, named for messages and for skipping it on a retry. */
interface Recipient {
  readonly key: string;
  /**
   * The operator's own provider: its admin chose the address, so the deny-local option (which keeps
   * Canary and AlertProvider authors off the operator's loopback) does not apply to it.
   */
  readonly operators: boolean;
  resolve(): Promise<Delivery>;
}

class DeliveryError extends Error {
  override name = "DeliveryError";
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean) {
    super(message);
    this.retryable = retryable;
  }
}

export function createAlert(deps: AlertDependencies): (target: Target, alert: Alert) => Promise<void> {
  return async function alert(target, raised) {
    const recipients = recipientsFor(target, raised.severity, deps);
    if (recipients.length === 0) return;
    const message = alertMessage(target, raised, deps.config.clusterName);
    const earlier = previousHeartbeat();
    const delivered = new Set(Array.isArray(earlier) ? (earlier as string[]) : []);
    const failures: DeliveryError[] = [];
    for (const recipient of recipients) {
      if (delivered.has(recipient.key)) continue;
      try {
        await post(await recipient.resolve(), message, {
          timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          denyLocal: deps.config.denyLocalDestinations && !recipient.operators,
        });
        delivered.add(recipient.key);
        heartbeat([...delivered]);
      } catch (error) {
        if (error instanceof HttpFailure && error.kind === "cancelled") throw error;
        failures.push(
          error instanceof DeliveryError
            ? new DeliveryError(`${recipient.key}: ${error.message}`, error.retryable)
            : error instanceof DestinationError
              ? new DeliveryError(`${recipient.key}: ${error.message}`, false)
              : new DeliveryError(
                  `${recipient.key}: ${error instanceof Error ? error.message : error}`,
                  true,
                ),
        );
      }
    }
    if (failures.length > 0) {
      throw ApplicationFailure.create({
        type: ALERT_NOT_DELIVERED,
        message: redact(`alert not delivered to ${failures.map((f) => f.message).join("; ")}`),
        nonRetryable: failures.every((f) => !f.retryable),
        details: [[...delivered]],
      });
    }
  };
}

function recipientsFor(target: Target, severity: AlertSeverity, deps: AlertDependencies): Recipient[] {
  const recipients: Recipient[] = target.spec.analysis.alerts
    .filter((entry) => receives(entry.severity, severity))
    .map((entry) => canaryRecipient(target, entry, deps));
  const global = deps.config.globalAlertProvider;
  if (global !== undefined && receives(global.severity, severity)) {
    recipients.push({
      key: "the operator's global alert provider",
      operators: true,
      async resolve() {
        const secret =
          global.secretRef === undefined
            ? undefined
            : await readSecret(deps.resources, global.secretRef.namespace, global.secretRef.name);
        return delivery(global, secret, {
          spec: "the operator's global alert provider",
          secret: global.secretRef && `Secret ${global.secretRef.namespace}/${global.secretRef.name}`,
        });
      },
    });
  }
  return recipients;
}

function canaryRecipient(target: Target, entry: ResolvedAlert, deps: AlertDependencies): Recipient {
  const { resources } = deps;
  const namespace = entry.providerRef.namespace ?? target.ref.namespace;
  const what = `AlertProvider ${namespace}/${entry.providerRef.name}`;
  return {
    key: `${what} (alert ${entry.name})`,
    operators: false,
    async resolve() {
      if (!deps.config.crossNamespaceRefs && namespace !== target.ref.namespace) {
        throw new DeliveryError(
          `providerRef refers to another namespace, and this operator forbids references to other namespaces (--no-cross-namespace-refs): use an AlertProvider in namespace ${target.ref.namespace}`,
          false,
        );
      }
      const stored = await resources.alertProvider(namespace, entry.providerRef.name).catch(permanentOnRead);
      if (stored === undefined) throw new DeliveryError(`${what} not found`, false);
      const validated = validateAlertProvider(stored);
      if (!validated.ok) throw new DeliveryError(`${what} is invalid: ${validated.errors.join("; ")}`, false);
      const spec = validated.spec;
      const secret =
        spec.secretRef === undefined
          ? undefined
          : await readSecret(resources, namespace, spec.secretRef.name);
      return delivery(spec, secret, {
        spec: what,
        secret: spec.secretRef && `Secret ${namespace}/${spec.secretRef.name}`,
      });
    },
  };
}

/** A refused read (RBAC) will not fix itself; an unavailable API server might. */
function permanentOnRead(error: unknown): never {
  if (error instanceof AnalysisResourceError)
    throw new DeliveryError(error.message, !/forbidden/.test(error.message));
  throw error;
}

async function readSecret(
  resources: AnalysisResources,
  namespace: string,
  name: string,
): Promise<Readonly<Record<string, string>>> {
  const secret = await resources.secret(namespace, name).catch(permanentOnRead);
  if (secret === undefined) throw new DeliveryError(`Secret ${namespace}/${name} not found`, false);
  return secret;
}

/** Names of where a provider's fields come from, for messages. */
interface Sources {
  /** "AlertProvider ns/name" or "the operator's global alert provider". */
  readonly spec: string;
  /** "Secret ns/name", when the provider has a secretRef. */
  readonly secret: string | undefined;
}

/** A field from the Secret's key if it has one, else from the spec; checked as an http(s) URL. */
function url(
  key: "address" | "proxy",
  secret: Readonly<Record<string, string>> | undefined,
  specValue: string | undefined,
  sources: Sources,
): string | undefined {
  const fromSecret = secret?.[key]?.trim();
  const value = fromSecret || specValue;
  if (value === undefined) return undefined;
  checkAddress(value, fromSecret ? `the ${key} key of ${sources.secret}` : `the ${key} of ${sources.spec}`);
  return value;
}

/** The Secret's `address`, `proxy` and `token` keys override the provider's own fields. */
function delivery(
  spec: Pick<AlertProviderSpec, "type" | "address" | "proxy" | "channel" | "username">,
  secret: Readonly<Record<string, string>> | undefined,
  sources: Sources,
): Delivery {
  const address = url("address", secret, spec.address, sources);
  if (address === undefined) {
    throw new DeliveryError(
      "no address: set address or put it under the address key of the secretRef",
      false,
    );
  }
  return {
    type: spec.type,
    address,
    proxy: url("proxy", secret, spec.proxy, sources),
    // Flagger's defaults: a provider without them posts as "flagger" to "general".
    channel: spec.channel || DEFAULTS.alertChannel,
    username: spec.username || DEFAULTS.alertUsername,
    token: secret?.token?.trim() || undefined,
  };
}

async function post(
  to: Delivery,
  message: AlertMessage,
  policy: { readonly timeoutMs: number; readonly denyLocal: boolean },
): Promise<void> {
  const body = JSON.stringify(alertFormats[to.type](message, { channel: to.channel, username: to.username }));
  let response: Awaited<ReturnType<typeof httpRequest>>;
  try {
    response = await httpRequest({
      method: "POST",
      url: to.address,
      headers: {
        "content-type": "application/json",
        "user-agent": "durable-canary",
        ...(to.token === undefined ? {} : { authorization: `Bearer ${to.token}` }),
      },
      body,
      timeoutMs: policy.timeoutMs,
      proxy: to.proxy,
      denyLocal: policy.denyLocal,
      maxBodyBytes: 4096,
    });
  } catch (error) {
    if (error instanceof HttpFailure && error.kind !== "cancelled") {
      throw new DeliveryError(
        `${to.type} hook: ${error.message}`,
        error.kind === "timeout" || error.kind === "unreachable",
      );
    }
    throw error;
  }
  const { statusCode } = response;
  if (statusCode < 200 || statusCode > 299) {
    const retryable = statusCode === 408 || statusCode === 429 || statusCode >= 500;
    const detail = excerpt(response.body, 200);
    throw new DeliveryError(
      `${to.type} hook answered HTTP ${statusCode}${detail ? `: ${detail}` : ""}`,
      retryable,
    );
  }
  // Slack's Web API (bot tokens) answers 200 with {"ok": false, "error": ...} when it refuses a post.
  if (to.token !== undefined && slackRefusal(response.body) !== undefined) {
    throw new DeliveryError(`slack refused the post: ${slackRefusal(response.body)}`, false);
  }
}

function slackRefusal(body: string): string | undefined {
  try {
    const answer = JSON.parse(body) as { ok?: boolean; error?: string };
    return answer.ok === false ? (answer.error ?? "no reason given") : undefined;
  } catch {
    return undefined;
  }
}
