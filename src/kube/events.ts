/**
 * Kubernetes Events on a Canary (`kubectl describe canary` shows them), written by the worker's
 * activities and by the controller alike. A caller that may retry passes a stable `id`, so the
 * Event is recorded once.
 */
import { hostname } from "node:os";
import { API_VERSION } from "../api/canary.ts";
import type { KubeClient } from "./client.ts";
import { isAlreadyExists } from "./errors.ts";
import { RESOURCES } from "./resources.ts";

/** Kubernetes caps event messages; longer ones are cut with a marker. */
const MAX_EVENT_MESSAGE = 1024;

export interface CanaryEventInput {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export async function createCanaryEvent(
  kube: KubeClient,
  canary: { readonly namespace: string; readonly name: string; readonly uid: string },
  event: CanaryEventInput,
  id: string,
  at: string,
): Promise<void> {
  const message =
    event.message.length > MAX_EVENT_MESSAGE
      ? `${event.message.slice(0, MAX_EVENT_MESSAGE - 3)}...`
      : event.message;
  try {
    await kube.create(RESOURCES.events, canary.namespace, {
      metadata: { name: `${canary.name}.${id}`, namespace: canary.namespace },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: "Canary",
        name: canary.name,
        namespace: canary.namespace,
        uid: canary.uid,
      },
      type: event.type,
      reason: event.reason,
      message,
      source: { component: "durable-canary", host: hostname() },
      reportingComponent: "durable-canary",
      reportingInstance: hostname(),
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}
