/**
 * A real Temporal cluster for the cluster world: frontend, history, matching and worker as four
 * processes of the pinned server, on PostgreSQL, set up with the server's own SQL tool, with our
 * namespace and search attributes, and the Temporal UI server pointed at its frontend. Everything
 * listens on 127.0.0.1 with ephemeral ports; services and PostgreSQL can be killed and restarted.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Connection, isGrpcServiceError } from "@temporalio/client";
import { msToTs } from "@temporalio/common";
import { dump } from "js-yaml";
import { runCommand } from "../../src/config/install.ts";
import { devServerDynamicConfig, probeDevServer } from "../../src/temporal/dev-server.ts";
import { requireBinary, temporalSchemaDirs } from "../../tools/catalog.ts";
import { postgresUser, startPostgres } from "./postgres.ts";
import { freePort, type ManagedProcess, onFreshPorts, type Supervisor, waitFor } from "./process.ts";
import { stopProcess } from "./stop-process.ts";
import {
  adminAccess,
  type ClusterCredentials,
  type ClusterSecurity,
  createClusterCredentials,
  type FrontendAccess,
  type ServerSecurity,
  securedServerConfig,
  startJwksServer,
  uiServerTls,
} from "./temporal-tls.ts";

export type ClusterService = "frontend" | "history" | "matching" | "worker";

export const clusterServices: readonly ClusterService[] = ["frontend", "history", "matching", "worker"];

/** The name each service gives itself in grpc.health.v1, SERVING once it serves (history: once it owns its shards). */
const healthServiceNames: Record<ClusterService, string> = {
  frontend: "temporal.api.workflowservice.v1.WorkflowService",
  history: "temporal.api.workflowservice.v1.HistoryService",
  matching: "temporal.api.workflowservice.v1.MatchingService",
  worker: "temporal.api.workflowservice.v1.WorkerService",
};

/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING */
const serving = 1;
/** The gRPC status of registering a namespace that exists. */
const alreadyExists = 6;

const databases = { default: "temporal", visibility: "temporal_visibility" } as const;

const host = "127.0.0.1";
const serviceReadyTimeoutMs = 120_000;
const retention = "24h";

export interface ServicePorts {
  grpc: number;
  membership: number;
}

/** Everything the server's configuration depends on; one place to extend (TLS, authorization). */
export interface ClusterConfigOptions {
  ports: Record<ClusterService, ServicePorts>;
  /** The frontend's HTTP API (gRPC-gateway). */
  frontendHttpPort: number;
  postgres: { host: string; port: number; user: string };
  dynamicConfigFile: string;
  numHistoryShards: number;
  /** TLS on the frontend, with client certificates or with tokens (temporal-tls.ts). */
  security?: ServerSecurity;
}

/** The server's configuration (what `temporal-server --config-file` reads). */
export function clusterServerConfig(options: ClusterConfigOptions): Record<string, unknown> {
  const frontend = `${host}:${options.ports.frontend.grpc}`;
  // Each of the four processes opens both pools: 4 × (10 + 5) connections stay well inside max_connections.
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: "postgres12",
      databaseName,
      connectAddr: `${options.postgres.host}:${options.postgres.port}`,
      connectProtocol: "tcp",
      user: options.postgres.user,
      password: "",
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: "1h",
    },
  });
  const services = Object.fromEntries(
    clusterServices.map((service) => [
      service,
      {
        rpc: {
          grpcPort: options.ports[service].grpc,
          membershipPort: options.ports[service].membership,
          bindOnIP: host,
          ...(service === "frontend" ? { httpPort: options.frontendHttpPort } : {}),
        },
      },
    ]),
  );
  const config = {
    log: { stdout: true, level: "info" },
    persistence: {
      defaultStore: "postgres-default",
      visibilityStore: "postgres-visibility",
      numHistoryShards: options.numHistoryShards,
      datastores: {
        "postgres-default": datastore(databases.default, 10),
        "postgres-visibility": datastore(databases.visibility, 5),
      },
    },
    global: { membership: { maxJoinDuration: "30s", broadcastAddress: host } },
    services,
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: "active",
      currentClusterName: "active",
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: "frontend",
          rpcAddress: frontend,
          httpAddress: `${host}:${options.frontendHttpPort}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: "noop" },
    archival: { history: { state: "disabled" }, visibility: { state: "disabled" } },
    namespaceDefaults: { archival: { history: { state: "disabled" }, visibility: { state: "disabled" } } },
    publicClient: { hostPort: frontend },
    dynamicConfigClient: { filepath: options.dynamicConfigFile, pollInterval: "10s" },
  };
  return options.security ? securedServerConfig(config, options.security) : config;
}

/** The dynamic config file: the dev server's settings of ours, then the caller's. */
export function clusterDynamicConfig(values: Record<string, unknown> = {}): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries({ ...devServerDynamicConfig, ...values }).map(([key, value]) => [key, [{ value }]]),
  );
}

export interface TableUsage {
  rows: number;
  bytes: number;
}

export interface TemporalCluster {
  /** The frontend's gRPC address. */
  address: string;
  namespace: string;
  /** The UI server, pointed at this frontend. */
  uiUrl: string;
  postgresPort: number;
  /** With `security`: what its clients need (CA, client certificates, server name, tokens). */
  credentials?: ClusterCredentials;
  /** The processes running now (restarts replace entries), for their PIDs and logs. */
  processes(): Record<ClusterService | "postgres" | "ui", ManagedProcess> & { jwks?: ManagedProcess };
  /** Stops one service (SIGKILL by default), waits downMs, starts it again with the same ports; resolves once it serves. */
  restartService(
    service: ClusterService,
    options?: { signal?: "SIGTERM" | "SIGKILL"; downMs?: number },
  ): Promise<void>;
  /**
   * Stops PostgreSQL (SIGTERM: a fast shutdown, the default; SIGKILL: a crash), keeps it down
   * downMs, starts it again on the same port and data; resolves once it answers queries.
   */
  restartPostgres(options?: { downMs?: number; signal?: "SIGTERM" | "SIGKILL" }): Promise<void>;
  /** Resolves once every service serves and the namespace answers a search-attribute query. */
  waitServing(timeoutMs?: number): Promise<void>;
  /** Exact rows and total bytes (with indexes and TOAST) per table of both databases, and their sums. */
  databaseUsage(): Promise<{ rows: number; bytes: number; tables: Record<string, TableUsage> }>;
  stop(): Promise<void>;
}

export interface TemporalClusterOptions {
  dir: string;
  namespace?: string;
  dynamicConfig?: Record<string, unknown>;
  numHistoryShards?: number;
  log?: (line: string) => void;
  /**
   * Secures the frontend as Temporal Cloud does: `mtls` requires client certificates from the
   * cluster's CA; `api-key` is TLS with bearer tokens checked by the server's JWT authorization.
   */
  security?: ClusterSecurity;
}

/** Ephemeral ports, distinct from each other. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * Free ports below 32768, distinct from each other. Each service records its membership port in
 * PostgreSQL (cluster_membership.rpc_port), a smallint: a port of the kernel's ephemeral range,
 * above it, makes the service exit at start. Below it only servers that chose a port bind.
 */
async function distinctFreeLowPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries === 1000) throw new Error(`no ${count} free ports below 32768 on ${host}`);
    const port = 10_000 + Math.floor(Math.random() * (32_768 - 10_000));
    if (!ports.has(port) && (await canBind(port))) ports.add(port);
  }
  return [...ports];
}

function secondsSince(started: number): string {
  return `${((performance.now() - started) / 1000).toFixed(1)}s`;
}

/** One health check of one service on its own gRPC port. */
async function probeService(
  service: ClusterService,
  port: number,
  access: FrontendAccess = {},
): Promise<boolean> {
  const connection = await Connection.connect({
    address: `${host}:${port}`,
    ...access,
    connectTimeout: 2_000,
    interceptors: [],
    channelArgs: { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 200 },
  });
  try {
    const { status } = await connection.healthService.check({ service: healthServiceNames[service] });
    if (status !== serving) throw new Error(`${service} reports health status ${status}`);
    return true;
  } finally {
    await connection.close();
  }
}

/** Creates both databases and brings their schemas to the pinned server's version. */
async function setupSchema(
  pg: { host: string; port: number; user: string },
  dir: string,
  log: (line: string) => void,
): Promise<void> {
  const tool = requireBinary("temporalSqlTool");
  const schemaDirs = temporalSchemaDirs();
  const common = ["--plugin", "postgres12", "--ep", pg.host, "-p", String(pg.port), "-u", pg.user];
  for (const [kind, database] of [
    ["temporal", databases.default],
    ["visibility", databases.visibility],
  ] as const) {
    const db = [...common, "--db", database];
    await runCommand(tool, [...db, "create-database"], {
      what: `create database ${database}`,
      log,
      cwd: dir,
    });
    await runCommand(tool, [...db, "setup-schema", "-v", "0.0"], {
      what: `setup-schema ${database}`,
      log,
      cwd: dir,
    });
    await runCommand(tool, [...db, "update-schema", "-d", schemaDirs[kind]], {
      what: `update-schema ${database}`,
      log,
      cwd: dir,
    });
  }
}

/** Registers the namespace unless it exists. */
async function registerNamespace(
  address: string,
  namespace: string,
  access: FrontendAccess = {},
): Promise<void> {
  const connection = await Connection.connect({ address, ...access, connectTimeout: 5_000 });
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(retention),
    });
  } catch (err) {
    if (!(isGrpcServiceError(err) && err.code === alreadyExists)) throw err;
  } finally {
    await connection.close();
  }
}

/** The UI server's configuration (its config folder's development.yaml). */
function uiServerConfig(
  frontend: string,
  port: number,
  namespace: string,
  tls?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    temporalGrpcAddress: frontend,
    ...(tls ? { tls } : {}),
    host,
    port,
    enableUi: true,
    defaultNamespace: namespace,
    // Plain HTTP on loopback: a Secure CSRF cookie would not come back.
    cors: { cookieInsecure: true, allowOrigins: [`http://${host}:${port}`] },
    refreshInterval: "1m",
  };
}

async function startUi(
  sup: Supervisor,
  dir: string,
  frontend: string,
  namespace: string,
  tls?: Record<string, unknown>,
): Promise<{ url: string; process: ManagedProcess }> {
  const configDir = join(dir, "config");
  mkdirSync(configDir, { recursive: true });
  return onFreshPorts(async (track) => {
    const port = await freePort();
    writeFileSync(join(configDir, "development.yaml"), dump(uiServerConfig(frontend, port, namespace, tls)));
    const url = `http://${host}:${port}`;
    const proc = track(
      sup.start({
        name: "temporal-ui",
        command: requireBinary("temporalUiServer"),
        args: ["--root", dir, "--config", "config", "--env", "development", "start"],
        cwd: dir,
      }),
    );
    await waitFor(
      `Temporal UI server on ${url}`,
      async () => {
        const res = await fetch(url);
        if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200, process: proc },
    );
    return { url, process: proc };
  });
}

async function databaseUsageOf(
  query: (database: string, sql: string) => Promise<string>,
): Promise<{ rows: number; bytes: number; tables: Record<string, TableUsage> }> {
  // Exact counts (not the statistics' estimates): query_to_xml runs one count per table.
  const sql = `select coalesce(json_object_agg(table_name, json_build_object(
      'rows', (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint,
      'bytes', pg_total_relation_size(format('%I.%I', table_schema, table_name)::regclass))), '{}')
    from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  const tables: Record<string, TableUsage> = {};
  for (const database of Object.values(databases)) {
    const perTable = JSON.parse(await query(database, sql)) as Record<string, TableUsage>;
    for (const [table, usage] of Object.entries(perTable)) tables[`${database}.${table}`] = usage;
  }
  const all = Object.values(tables);
  return {
    rows: all.reduce((sum, t) => sum + t.rows, 0),
    bytes: all.reduce((sum, t) => sum + t.bytes, 0),
    tables,
  };
}

export async function startTemporalCluster(
  sup: Supervisor,
  options: TemporalClusterOptions,
): Promise<TemporalCluster> {
  const dir = resolve(options.dir);
  const namespace = options.namespace ?? "default";
  const log = options.log ?? ((line: string) => process.stderr.write(`[temporal-cluster] ${line}\n`));
  mkdirSync(dir, { recursive: true });
  const server = requireBinary("temporalServer");
  const started = performance.now();

  let t = performance.now();
  const pg = await startPostgres(sup, { dir: join(dir, "postgres"), log });
  log(`PostgreSQL ready on ${pg.host}:${pg.port} in ${secondsSince(t)}`);
  t = performance.now();
  const postgres = { host: pg.host, port: pg.port, user: postgresUser };
  await setupSchema(postgres, dir, log);
  log(`schema of ${databases.default} and ${databases.visibility} set up in ${secondsSince(t)}`);
  const credentials = options.security
    ? createClusterCredentials(join(dir, "credentials"), options.security, namespace)
    : undefined;
  const jwks = credentials?.jwksFile
    ? await startJwksServer(sup, "temporal-jwks", credentials.jwksFile)
    : undefined;
  const access: FrontendAccess = credentials ? adminAccess(credentials) : {};
  /** api-key only: the internal frontend, run by the frontend's process. */
  let internalFrontend: ServicePorts | undefined;

  const dynamicConfigFile = join(dir, "dynamicconfig.yaml");
  writeFileSync(dynamicConfigFile, dump(clusterDynamicConfig(options.dynamicConfig)));
  const configFile = join(dir, "temporal-server.yaml");
  const current = {} as Record<ClusterService, ManagedProcess>;
  const starts: Record<ClusterService, number> = { frontend: 0, history: 0, matching: 0, worker: 0 };
  let ports = {} as Record<ClusterService, ServicePorts>;

  const startService = (service: ClusterService): ManagedProcess => {
    starts[service]++;
    current[service] = sup.start({
      name: starts[service] === 1 ? `temporal-${service}` : `temporal-${service}-${starts[service]}`,
      command: server,
      args: [
        "--config-file",
        configFile,
        "--allow-no-auth",
        "start",
        "--service",
        service,
        ...(service === "frontend" && internalFrontend ? ["--service", "internal-frontend"] : []),
      ],
      cwd: dir,
    });
    return current[service];
  };
  const waitService = async (service: ClusterService, timeoutMs = serviceReadyTimeoutMs): Promise<void> => {
    const proc = current[service];
    await waitFor(
      `Temporal ${service} on ${host}:${ports[service].grpc}`,
      async () =>
        (await probeService(service, ports[service].grpc, service === "frontend" ? access : {})) &&
        (service !== "frontend" || !internalFrontend || (await probeService(service, internalFrontend.grpc))),
      {
        timeoutMs,
        intervalMs: 250,
        process: proc,
      },
    );
  };

  // Another process may take a chosen port before its service binds it, and that service exits;
  // then every service starts again on fresh ports.
  t = performance.now();
  for (let attempt = 1; ; attempt++) {
    const extra = credentials?.security === "api-key" ? 1 : 0;
    const [frontendHttpPort = 0, ...grpc] = await distinctFreePorts(1 + clusterServices.length + extra);
    const membership = await distinctFreeLowPorts(clusterServices.length + extra);
    ports = Object.fromEntries(
      clusterServices.map((service, i) => [service, { grpc: grpc[i] ?? 0, membership: membership[i] ?? 0 }]),
    ) as Record<ClusterService, ServicePorts>;
    const last = clusterServices.length;
    internalFrontend = extra ? { grpc: grpc[last] ?? 0, membership: membership[last] ?? 0 } : undefined;
    const config = clusterServerConfig({
      ports,
      frontendHttpPort,
      postgres,
      dynamicConfigFile,
      numHistoryShards: options.numHistoryShards ?? 4,
      ...(credentials ? { security: { credentials, jwksUrl: jwks?.url, internalFrontend } } : {}),
    });
    writeFileSync(configFile, dump(config));
    const attemptProcesses: ManagedProcess[] = [];
    try {
      // The first process of a new cluster writes the cluster's metadata; processes that start
      // together race to write it, and the losers exit. History starts first, the others once it won.
      attemptProcesses.push(startService("history"));
      await waitFor(
        "the cluster metadata written by history",
        async () =>
          Number(await pg.query(databases.default, "select count(*) from cluster_metadata_info")) > 0
            ? true
            : undefined,
        { timeoutMs: serviceReadyTimeoutMs, intervalMs: 100, process: current.history },
      );
      for (const service of clusterServices) {
        if (service !== "history") attemptProcesses.push(startService(service));
      }
      await Promise.all(
        clusterServices.map(async (service) => {
          await waitService(service);
          log(`${service} serving on ${host}:${ports[service].grpc} after ${secondsSince(t)}`);
        }),
      );
      break;
    } catch (err) {
      const lost = attemptProcesses.some((p) => p.exit !== undefined);
      await Promise.all(attemptProcesses.map((p) => stopProcess(p, "SIGKILL")));
      if (!lost || attempt === 3) throw err;
      // The killed processes stay members until their records expire: new ones would wait for them.
      await pg.query(databases.default, "delete from cluster_membership");
      log(`a service exited while starting (attempt ${attempt}): starting all four again on fresh ports`);
    }
  }

  const address = `${host}:${ports.frontend.grpc}`;
  const probeNamespace = () => probeDevServer(address, namespace, access);
  t = performance.now();
  await registerNamespace(address, namespace, access);
  await waitFor(
    `namespace ${namespace} with our search attributes on ${address}`,
    () => probeNamespace().then(() => true),
    {
      timeoutMs: 60_000,
      intervalMs: 250,
      process: current.frontend,
    },
  );
  log(`namespace ${namespace} registered with our search attributes in ${secondsSince(t)}`);

  t = performance.now();
  const ui = await startUi(
    sup,
    join(dir, "ui"),
    address,
    namespace,
    credentials ? uiServerTls(credentials) : undefined,
  );
  log(`UI server ready on ${ui.url} in ${secondsSince(t)}`);
  log(`Temporal cluster ready in ${secondsSince(started)}`);

  const waitServing = async (timeoutMs = serviceReadyTimeoutMs): Promise<void> => {
    await Promise.all(clusterServices.map((service) => waitService(service, timeoutMs)));
    await waitFor(`namespace ${namespace} on ${address}`, () => probeNamespace().then(() => true), {
      timeoutMs,
      intervalMs: 250,
      process: current.frontend,
    });
  };

  return {
    address,
    namespace,
    uiUrl: ui.url,
    postgresPort: pg.port,
    ...(credentials ? { credentials } : {}),
    processes: () => ({
      ...current,
      postgres: pg.process,
      ui: ui.process,
      ...(jwks ? { jwks: jwks.process } : {}),
    }),
    async restartService(service, { signal = "SIGKILL", downMs = 0 } = {}) {
      await stopProcess(current[service], signal);
      await sleep(downMs);
      startService(service);
      await waitService(service);
    },
    async restartPostgres({ downMs = 0, signal = "SIGTERM" } = {}) {
      await pg.restart({ downMs, signal });
    },
    waitServing,
    databaseUsage: () => databaseUsageOf(pg.query),
    async stop() {
      // Clients first, then the services, then their database.
      await stopProcess(ui.process, "SIGTERM");
      await Promise.all(clusterServices.map((service) => stopProcess(current[service], "SIGTERM")));
      if (jwks) await stopProcess(jwks.process, "SIGTERM");
      await pg.stop();
    },
  };
}
