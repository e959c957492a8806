/**
 * One alert, before it is dressed in a chat service's native format: who speaks (the canary),
 * what happened, how bad it is, and the facts people ask for first. Each format is one file
 * exporting an AlertFormat; registry.ts maps AlertProvider `spec.type` to it.
 */
import type { AlertSeverity } from "../../src/api/canary.ts";
import type { Alert, Target } from "../../workflows/activity-port.ts";

export interface AlertMessage {
  /** "<name>.<namespace>", the way Flagger titles its alerts. */
  readonly title: string;
  readonly text: string;
  readonly severity: AlertSeverity;
  readonly facts: readonly { readonly name: string; readonly value: string }[];
}

export interface AlertDestination {
  /** AlertProvider `channel`, for services that let a webhook post elsewhere than its default. */
  readonly channel: string | undefined;
  /** AlertProvider `username`: the name the message is posted under. */
  readonly username: string | undefined;
}

/** Builds the JSON body a chat service's incoming webhook accepts. */
export type AlertFormat = (message: AlertMessage, destination: AlertDestination) => unknown;

/** Severity colours shared by the formats (Slack's good / warning / danger). */
export const SEVERITY_COLOURS: Readonly<Record<AlertSeverity, string>> = {
  info: "#2eb886",
  warn: "#daa038",
  error: "#a30200",
};

const RANK: Readonly<Record<AlertSeverity, number>> = { info: 0, warn: 1, error: 2 };

/** info receives everything, warn receives warn and error, error receives error only. */
export function receives(subscribed: AlertSeverity, raised: AlertSeverity): boolean {
  return RANK[raised] >= RANK[subscribed];
}

export function alertMessage(target: Target, alert: Alert, clusterName?: string): AlertMessage {
  const { ref, spec } = target;
  return {
    title: `${ref.name}.${ref.namespace}`,
    text: alert.message,
    severity: alert.severity,
    facts: [
      { name: "Phase", value: alert.phase },
      { name: "Target", value: `${spec.targetRef.kind}/${spec.targetRef.name}` },
      ...(target.revision === undefined ? [] : [{ name: "Revision", value: target.revision }]),
      ...(clusterName === undefined ? [] : [{ name: "Cluster", value: clusterName }]),
    ],
  };
}
