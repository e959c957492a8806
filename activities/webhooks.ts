/**
 * The runWebhooks activity: POSTs Flagger's webhook payload to every webhook of one type and
 * reports each answer. A 2xx is "pass" (for a rollback webhook: "roll back now"); any other status
 * is "fail"; no HTTP answer at all (timeout, connection refused, TLS) is "error". The answer's
 * status and a bounded excerpt of its body travel back to the workflow, so the status can say why
 * a gate stayed closed or a check failed.
 *
 * Webhooks of one type are called in the order the Canary lists them, as Flagger does. For the
 * checks and gates (pre-rollout, rollout, confirm-*) the first one that does not pass ends the
 * round: a load test must not start when the acceptance test before it failed. A rollback round
 * ends at the first webhook that asks for the rollback. post-rollout and event webhooks all run.
 *
 * Every request carries an Idempotency-Key header, the same for every attempt of one call of a
 * webhook (retries here and Temporal's retries of the activity) and new for the next call, so a
 * receiver can tell a retry from a new call.
 */
import { createHash, randomUUID } from "node:crypto";
import type { CanaryPhase, WebhookType } from "../src/api/canary.ts";
import type { ResolvedWebhook } from "../src/api/defaults.ts";
import { formatDuration } from "../src/api/duration.ts";
import type { OperatorConfig } from "../src/config/operator.ts";
import { checkAddress, DestinationError } from "../src/net/destination.ts";
import { redact } from "../src/net/redact.ts";
import type { CanaryEvent, Target, WebhookResult } from "../workflows/activity-port.ts";
import { invocationId } from "./activity-context.ts";
import { excerpt, HttpFailure, type HttpResponse, heartbeat, httpRequest, pause } from "./analysis-http.ts";

/** The header that carries the key of one webhook call (the IETF httpapi draft's name). */
export const IDEMPOTENCY_HEADER = "idempotency-key";

/** The JSON body every webhook receives (Flagger's shape). */
export interface WebhookPayload {
  readonly name: string;
  readonly namespace: string;
  readonly phase: CanaryPhase;
  /** The revision under analysis, so a receiver can tell rollouts apart. */
  readonly checksum: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Bytes of a webhook's answer that are read; the excerpt is cut from them. */
const MAX_BODY_BYTES = 4096;
const EXCERPT_CHARS = 300;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
/**
 * All webhooks of one call share this much time, under the analysis activity's 5 minute
 * start-to-close timeout, so that retries of slow webhooks end as a result, not as a timeout.
 */
export const WEBHOOK_ROUND_BUDGET_MS = 4 * 60_000;

/** Types whose round ends at the first webhook that does not pass. */
const STOP_ON_FAILURE: ReadonlySet<WebhookType> = new Set([
  "pre-rollout",
  "rollout",
  "confirm-rollout",
  "confirm-traffic-increase",
  "confirm-promotion",
]);

export function webhookPayload(
  target: Target,
  phase: CanaryPhase,
  webhook: Pick<ResolvedWebhook, "metadata">,
  event?: CanaryEvent,
  nowMs = Date.now(),
): WebhookPayload {
  return {
    name: target.ref.name,
    namespace: target.ref.namespace,
    phase,
    checksum: target.revision ?? "",
    metadata:
      event === undefined
        ? { ...webhook.metadata }
        : {
            ...webhook.metadata,
            eventMessage: event.message,
            eventType: event.type,
            timestamp: String(nowMs),
          },
  };
}

export interface WebhookDependencies {
  readonly config: Pick<OperatorConfig, "denyLocalDestinations">;
}

export type RunWebhooks = (
  target: Target,
  type: WebhookType,
  phase: CanaryPhase,
  event?: CanaryEvent,
) => Promise<WebhookResult[]>;

/**
 * Builds the runWebhooks activity: calls every webhook of `type`. `event` is the Kubernetes event
 * an `event` webhook reports (its message, type and time go into the payload's metadata).
 */
export function createRunWebhooks(deps: WebhookDependencies): RunWebhooks {
  return async function runWebhooks(target, type, phase, event) {
    const deadline = Date.now() + WEBHOOK_ROUND_BUDGET_MS;
    const results: WebhookResult[] = [];
    for (const webhook of target.spec.analysis.webhooks.filter((w) => w.type === type)) {
      const result = await callWebhook(webhook, webhookPayload(target, phase, webhook, event), {
        deadline,
        denyLocal: deps.config.denyLocalDestinations,
      });
      results.push(result);
      heartbeat();
      if (STOP_ON_FAILURE.has(type) && result.verdict !== "pass") break;
      if (type === "rollback" && result.verdict === "pass") break;
    }
    return results;
  };
}

/**
 * The key of this call of `webhook`: derived from the activity invocation (stable across its
 * retries), or random outside a worker, where there are no retries to recognise.
 */
function idempotencyKey(webhook: ResolvedWebhook): string {
  const invocation = invocationId();
  if (invocation === undefined) return randomUUID();
  return createHash("sha256")
    .update(`${invocation}\n${webhook.type}\n${webhook.name}`)
    .digest("base64url")
    .slice(0, 32);
}

export interface CallOptions {
  /** When the round's budget ends. */
  readonly deadline?: number | undefined;
  readonly denyLocal?: boolean | undefined;
}

/**
 * POSTs the payload, retrying (webhook.retries times, with exponential backoff) on no answer,
 * 408, 429 and 5xx; a 4xx is a deliberate "no" and is not retried. Never throws except on
 * activity cancellation.
 */
export async function callWebhook(
  webhook: ResolvedWebhook,
  payload: WebhookPayload,
  options: CallOptions = {},
): Promise<WebhookResult> {
  const deadline = options.deadline ?? Date.now() + WEBHOOK_ROUND_BUDGET_MS;
  try {
    checkAddress(webhook.url, `the url of webhook ${JSON.stringify(webhook.name)}`);
  } catch (error) {
    if (!(error instanceof DestinationError)) throw error;
    return describe(webhook, { failure: new HttpFailure(error.kind, error.message) }, 0);
  }
  const body = JSON.stringify(payload);
  const key = idempotencyKey(webhook);
  const attempts = 1 + webhook.retries;
  let last: { response: HttpResponse } | { failure: HttpFailure } | undefined;
  let made = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    made = attempt;
    const clipped = left < webhook.timeoutMs;
    try {
      const response = await httpRequest({
        method: "POST",
        url: webhook.url,
        headers: {
          "content-type": "application/json",
          "user-agent": "durable-canary",
          [IDEMPOTENCY_HEADER]: key,
        },
        body,
        timeoutMs: clipped ? left : webhook.timeoutMs,
        insecure: webhook.disableTLS,
        denyLocal: options.denyLocal,
        maxBodyBytes: MAX_BODY_BYTES,
      });
      last = { response };
      if (!retryableStatus(response.statusCode)) break;
    } catch (error) {
      if (!(error instanceof HttpFailure) || error.kind === "cancelled") throw error;
      last = {
        failure:
          clipped && error.kind === "timeout"
            ? new HttpFailure(
                "timeout",
                `no answer before the round's deadline (webhooks of one type share ${formatDuration(WEBHOOK_ROUND_BUDGET_MS)})`,
              )
            : error,
      };
      if (error.kind === "tls" || error.kind === "invalid" || error.kind === "denied") break;
    }
    if (attempt < attempts) {
      const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** (attempt - 1), MAX_BACKOFF_MS);
      if (Date.now() + backoff >= deadline) break;
      await pause(backoff);
    }
  }
  return describe(webhook, last, made);
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** The result, its message redacted: it becomes the status, an Event and maybe an alert. */
function describe(
  webhook: ResolvedWebhook,
  last: { response: HttpResponse } | { failure: HttpFailure } | undefined,
  attempts: number,
): WebhookResult {
  const result = unredacted(webhook, last, attempts);
  return { ...result, message: redact(result.message) };
}

function unredacted(
  webhook: ResolvedWebhook,
  last: { response: HttpResponse } | { failure: HttpFailure } | undefined,
  attempts: number,
): WebhookResult {
  const base = { name: webhook.name, type: webhook.type };
  const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
  if (last === undefined) {
    return {
      ...base,
      verdict: "error",
      statusCode: undefined,
      message: `not called: the round's ${formatDuration(WEBHOOK_ROUND_BUDGET_MS)} budget was spent by earlier webhooks`,
    };
  }
  if ("failure" in last) {
    return { ...base, verdict: "error", statusCode: undefined, message: `${last.failure.message}${tries}` };
  }
  const { statusCode, body, truncated } = last.response;
  const text = excerpt(body, EXCERPT_CHARS);
  const shown = text === "" ? "" : `: ${truncated && !text.endsWith("…") ? `${text}…` : text}`;
  return {
    ...base,
    verdict: statusCode >= 200 && statusCode <= 299 ? "pass" : "fail",
    statusCode,
    message: `HTTP ${statusCode}${shown}${tries}`,
  };
}
