/**
 * What the embedded server (product) and the test world (harness) share about `temporal server
 * start-dev`: its command line, and the check that it is really serving our namespace with our
 * search attributes.
 */
import { Connection, type ConnectionOptions } from "@temporalio/client";
import {
  searchAttributeFlags,
  searchAttributeKeys,
  searchAttributes,
  searchAttributeTypeNames,
} from "./search-attributes.ts";

export interface DevServerOptions {
  ip: string;
  /** Frontend gRPC port. */
  port: number;
  uiPort: number;
  /** Left out, the CLI picks a random free port. */
  httpPort?: number;
  /** Left out, the CLI picks a random free port. */
  metricsPort?: number;
  namespace: string;
  /** SQLite file that keeps workflows across restarts; left out, state lives in memory. */
  dbFile?: string;
  /** Server dynamic config (e.g. `limit.maxIDLength`); values are sent as JSON. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

/**
 * Dynamic config every dev server of ours gets. The timer queue may otherwise fire a timer up to
 * a second late, which would add most of a second to every analysis interval.
 */
export const devServerDynamicConfig: Record<string, string> = {
  "history.timerProcessorMaxTimeShift": "10ms",
};

/** The arguments after the `temporal` executable. */
export function devServerArgs(options: DevServerOptions): string[] {
  const args = [
    "server",
    "start-dev",
    "--ip",
    options.ip,
    "--port",
    String(options.port),
    "--ui-port",
    String(options.uiPort),
    "--namespace",
    options.namespace,
  ];
  if (options.httpPort !== undefined) args.push("--http-port", String(options.httpPort));
  if (options.metricsPort !== undefined) args.push("--metrics-port", String(options.metricsPort));
  if (options.dbFile !== undefined) args.push("--db-filename", options.dbFile);
  for (const [key, value] of Object.entries({ ...devServerDynamicConfig, ...options.dynamicConfig })) {
    args.push("--dynamic-config-value", `${key}=${JSON.stringify(value)}`);
  }
  args.push(...searchAttributeFlags());
  return args;
}

/** A registered attribute with another type: no retry can fix it, so waits stop at once. */
export class SearchAttributeConflict extends Error {
  override name = "SearchAttributeConflict";
}

/**
 * Registers any of our search attributes the namespace lacks. Needed beyond the start-dev flags:
 * with an existing database file the dev server skips registration, so attributes added in a newer
 * release would otherwise be missing.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing: Record<string, number> = {};
  for (const key of searchAttributeKeys) {
    const wanted = searchAttributeTypeNames[key.type].indexedValueType;
    const existing = customAttributes?.[key.name];
    if (existing === undefined || existing === null) missing[key.name] = wanted;
    else if (existing !== wanted) {
      throw new SearchAttributeConflict(
        `search attribute ${key.name} is registered in namespace ${namespace} with another type ` +
          `(indexed value type ${existing}, expected ${searchAttributeTypeNames[key.type].cli})`,
      );
    }
  }
  if (Object.keys(missing).length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  }
}

/**
 * One readiness check: connects (with `access`, a secured frontend's TLS or API key), makes sure
 * the search attributes exist, and runs a visibility query on one of them, which succeeds only once
 * the namespace really serves them. Throws while the server is not ready.
 */
export async function probeDevServer(
  address: string,
  namespace: string,
  access: Pick<ConnectionOptions, "tls" | "apiKey"> = {},
): Promise<void> {
  // No retry interceptor, and quick reconnects: a server that starts listening should be seen at once.
  const connection = await Connection.connect({
    address,
    ...access,
    connectTimeout: 2_000,
    interceptors: [],
    channelArgs: { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 200 },
  });
  try {
    await ensureSearchAttributes(connection, namespace);
    await connection.workflowService.listWorkflowExecutions({
      namespace,
      pageSize: 1,
      query: `${searchAttributes.CanaryName.name} = "readiness-probe"`,
    });
  } finally {
    await connection.close();
  }
}
