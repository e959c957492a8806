/**
 * The command line's Temporal: the operator's own connection settings (TEMPORAL_* variables, the
 * temporal.toml profile; without them the embedded server's local address), one connection per
 * process, and the canary workflows addressed by their IDs, so no task queue needs to be known.
 */
import { Client, Connection } from "@temporalio/client";
import { WorkflowNotFoundError } from "@temporalio/common";
import { workflowId } from "../../workflows/messages.ts";
import { loadTemporalSettings } from "../temporal/connection.ts";
import { CliError, describeError } from "./errors.ts";

/** The canary workflow's type, as the controller starts it. */
export const CANARY_WORKFLOW_TYPE = "canaryWorkflow";

export const defaultUiAddress = "http://localhost:8233";

/** How long a query may take: it needs a worker to answer. */
const queryTimeoutMs = 10_000;

export interface TemporalOptions {
  /** The Temporal Web UI address, for links. */
  readonly uiAddress?: string | undefined;
}

export interface CliTemporal {
  readonly client: Client;
  readonly namespace: string;
  readonly address: string;
  readonly uiAddress: string;
  /** Runs a call with a deadline, so a canary whose worker is down cannot hang the command. */
  bounded<T>(call: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Connects with the operator's settings; a failure is one line naming the server. */
export async function connectTemporal(
  options: TemporalOptions = {},
  env = process.env,
): Promise<CliTemporal> {
  let settings: ReturnType<typeof loadTemporalSettings>;
  try {
    settings = loadTemporalSettings(env);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const embedded = settings.mode === "embedded";
  const connection =
    settings.mode === "embedded" ? { address: `${settings.ip}:${settings.port}` } : settings.connection;
  const embeddedUi = settings.mode === "embedded" ? `http://localhost:${settings.uiPort}` : undefined;
  const uiAddress = (
    options.uiAddress ||
    env.DURABLE_CANARY_UI_ADDRESS ||
    embeddedUi ||
    defaultUiAddress
  ).replace(/\/+$/, "");
  let conn: Connection;
  try {
    conn = await Connection.connect({ ...connection, connectTimeout: "5s" });
  } catch (err) {
    const hint = embedded
      ? " (TEMPORAL_ADDRESS is not set: is the operator with its embedded server running here?)"
      : "";
    throw new CliError(`cannot reach Temporal at ${connection.address}: ${describeError(err)}${hint}`);
  }
  const client = new Client({ connection: conn, namespace: settings.namespace });
  return {
    client,
    namespace: settings.namespace,
    address: connection.address,
    uiAddress,
    bounded: (call) => client.withDeadline(Date.now() + queryTimeoutMs, call),
    close: () => conn.close(),
  };
}

/** Kubernetes names (RFC 1123 labels and subdomains) only: they go into visibility queries as they are. */
const kubernetesName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function checkName(what: string, value: string): string {
  if (!kubernetesName.test(value) || value.length > 253) {
    throw new CliError(`${what} ${JSON.stringify(value)} is not a valid Kubernetes name`);
  }
  return value;
}

/** A canary's workflow handle; unknown canaries are reported by notFound. */
export function canaryHandle(temporal: CliTemporal, namespace: string, name: string) {
  return temporal.client.workflow.getHandle(workflowId(namespace, name));
}

/**
 * Runs a call on a canary's workflow; a missing workflow becomes "canary unknown", naming the
 * namespaces where a canary of that name does exist (the usual mistake is the namespace).
 */
export async function onCanary<T>(
  temporal: CliTemporal,
  namespace: string,
  name: string,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw await notFound(temporal, namespace, name);
    throw err;
  }
}

async function notFound(temporal: CliTemporal, namespace: string, name: string): Promise<CliError> {
  const elsewhere = new Set<string>();
  const query = `WorkflowType = "${CANARY_WORKFLOW_TYPE}" AND CanaryName = "${name}"`;
  try {
    for await (const run of temporal.client.workflow.list({ query, pageSize: 100 })) {
      const ns = run.workflowId.split("/")[1];
      if (ns && ns !== namespace) elsewhere.add(ns);
      if (elsewhere.size >= 5) break;
    }
  } catch {
    // Only a hint: without visibility the plain answer stands.
  }
  const hint =
    elsewhere.size > 0
      ? `; one exists in namespace${elsewhere.size > 1 ? "s" : ""} ${[...elsewhere].sort().join(", ")} (use -n)`
      : " (is the namespace right? list them with -A)";
  return new CliError(
    `canary ${name} not found in namespace ${namespace} (Temporal namespace ${temporal.namespace})${hint}`,
  );
}
