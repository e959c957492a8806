/**
 * Where the operator's Temporal is: a cluster named by the Temporal CLI's own environment
 * variables (and, like the CLI, its config file profiles), or the embedded dev server when none is
 * named. Every process (worker, controller, CLI) gets its connections from here.
 */
import { Connection, type TLSConfig } from "@temporalio/client";
import { loadClientConfigProfile, toClientOptions } from "@temporalio/envconfig";
import type { NativeConnection } from "@temporalio/worker";
import {
  type EmbeddedOptions,
  type EmbeddedSettings,
  type EmbeddedTemporal,
  startEmbeddedTemporal,
} from "./embedded.ts";

/** What both the client and the worker connection need to reach a server. */
export interface ConnectionSettings {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  /** gRPC metadata sent with every call (TEMPORAL_GRPC_META_* or the profile's grpc_meta). */
  metadata?: Record<string, string>;
}

export type TemporalSettings =
  | ({ mode: "embedded" } & EmbeddedSettings)
  | { mode: "remote"; namespace: string; connection: ConnectionSettings };

export const defaultNamespace = "default";
export const defaultEmbeddedPort = 7233;

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name}=${raw} is not a port number`);
  }
  return port;
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/**
 * The Temporal CLI's variables that say how to reach a server (those the SDK's envconfig reads,
 * but for TEMPORAL_ADDRESS and the codec ones).
 */
const connectionVariable = /^TEMPORAL_(NAMESPACE|API_KEY|TLS|TLS_.+|GRPC_META_.+|CONFIG_FILE)$/;

/**
 * Connection variables without an address mean a server the user wants but did not name (a
 * forgotten TEMPORAL_ADDRESS): an embedded server would silently ignore them, so refuse.
 */
function refuseIgnoredConnectionVariables(env: NodeJS.ProcessEnv): void {
  const set = Object.keys(env)
    .filter((name) => connectionVariable.test(name) && env[name])
    .sort();
  if (set.length === 0) return;
  throw new Error(
    `${set.join(", ")} ${set.length === 1 ? "is" : "are"} set but TEMPORAL_ADDRESS is not, so ` +
      `the embedded Temporal server would start and ${set.length === 1 ? "it" : "they"} would be ignored. ` +
      "Set TEMPORAL_ADDRESS (or TEMPORAL_PROFILE) to the Temporal server they are meant for, or unset " +
      `${set.length === 1 ? "it" : "them"} to use the embedded server.`,
  );
}

/**
 * Reads the settings from the environment. TEMPORAL_ADDRESS (or a TEMPORAL_PROFILE from the CLI's
 * config file) selects a cluster; without either the operator embeds its own server on
 * 127.0.0.1:7233 (DURABLE_CANARY_TEMPORAL_PORT) with the UI on the port + 1000
 * (DURABLE_CANARY_TEMPORAL_UI_PORT), namespace `default`.
 */
export function loadTemporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  if (!env.TEMPORAL_ADDRESS && !env.TEMPORAL_PROFILE) {
    refuseIgnoredConnectionVariables(env);
    const port = portFrom(env, "DURABLE_CANARY_TEMPORAL_PORT", defaultEmbeddedPort);
    return {
      mode: "embedded",
      ip: "127.0.0.1",
      port,
      uiPort: portFrom(env, "DURABLE_CANARY_TEMPORAL_UI_PORT", port + 1000),
      namespace: defaultNamespace,
    };
  }
  if (env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION) {
    // Ignoring it silently would make a connection that the user expects to fail succeed, or vice versa.
    throw new Error(
      "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported by the Temporal TypeScript SDK; " +
        "set TEMPORAL_TLS_SERVER_NAME to the name in the server's certificate instead",
    );
  }
  let profile: ReturnType<typeof loadClientConfigProfile>;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: definedOnly(env) });
  } catch (err) {
    throw new Error(`cannot load the Temporal connection settings: ${(err as Error).message}`);
  }
  if (!profile.address) {
    throw new Error(`the Temporal profile ${env.TEMPORAL_PROFILE} has no address (set TEMPORAL_ADDRESS)`);
  }
  if (Boolean(profile.tls?.clientCert) !== Boolean(profile.tls?.clientKey)) {
    throw new Error(
      "mTLS needs both a client certificate and its key: set TEMPORAL_TLS_CLIENT_CERT_PATH and " +
        "TEMPORAL_TLS_CLIENT_KEY_PATH (or the _DATA variants) together",
    );
  }
  let options: ReturnType<typeof toClientOptions>["connectionOptions"];
  try {
    options = toClientOptions(profile).connectionOptions;
  } catch (err) {
    throw new Error(`cannot load the Temporal TLS files: ${(err as Error).message}`);
  }
  const connection: ConnectionSettings = { address: profile.address };
  if (options.tls !== undefined && options.tls !== null) connection.tls = options.tls;
  if (options.apiKey !== undefined) connection.apiKey = options.apiKey;
  if (profile.grpcMeta !== undefined) connection.metadata = profile.grpcMeta;
  return { mode: "remote", namespace: profile.namespace || defaultNamespace, connection };
}

/** A reachable Temporal: the remote cluster, or the embedded server once it is ready. */
export interface TemporalTarget {
  namespace: string;
  connection: ConnectionSettings;
  /** Known for the embedded server only. */
  uiUrl?: string;
  /** The embedded server, for the program to stop after its workers have drained. */
  embedded?: EmbeddedTemporal;
}

export async function openTemporal(
  settings: TemporalSettings,
  options: EmbeddedOptions = {},
): Promise<TemporalTarget> {
  if (settings.mode === "remote") return { namespace: settings.namespace, connection: settings.connection };
  const embedded = await startEmbeddedTemporal(settings, options);
  return {
    namespace: embedded.namespace,
    connection: { address: embedded.address },
    uiUrl: embedded.uiUrl,
    embedded,
  };
}

/** A client connection (for Client / WorkflowClient). */
export function connectClient(target: TemporalTarget): Promise<Connection> {
  return Connection.connect(target.connection);
}

/** A worker connection. The worker package loads the native SDK core, so only workers import it. */
export async function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  const { NativeConnection } = await import("@temporalio/worker");
  return NativeConnection.connect(target.connection);
}
