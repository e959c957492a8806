/**
 * The test world's Temporal: the dev server on 127.0.0.1 with ephemeral ports, the web UI and our
 * search attributes, started with the same command line as the product's embedded server.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { devServerArgs, probeDevServer } from "../../src/temporal/dev-server.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { freePort, type ManagedProcess, onFreshPorts, type Supervisor, waitFor } from "./process.ts";

export interface TemporalOptions {
  /** Working directory of the server; a relative dbFile lives here. */
  dir: string;
  /** SQLite file that keeps workflows across a restart of the server; left out, state is in memory. */
  dbFile?: string;
  dynamicConfig?: Record<string, string | number | boolean>;
  /** The gRPC port, to restart a server where its workers expect it; left out, an ephemeral one. */
  port?: number;
  namespace?: string;
  /** Process (and log file) name; distinct names keep the logs of a restarted server apart. */
  name?: string;
}

export interface TemporalServer {
  address: string;
  uiUrl: string;
  namespace: string;
  process: ManagedProcess;
}

/** Ephemeral ports, distinct from each other and from the ones given. */
async function freePorts(count: number, taken: number[]): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port) && !taken.includes(port)) ports.push(port);
  }
  return ports;
}

const readyTimeoutMs = 60_000;

export async function startTemporal(sup: Supervisor, opts: TemporalOptions): Promise<TemporalServer> {
  mkdirSync(opts.dir, { recursive: true });
  const cli = requireBinary("temporal");
  const namespace = opts.namespace ?? "default";
  return onFreshPorts(async (track) => {
    const [uiPort = 0, httpPort = 0, metricsPort = 0, grpcPort = 0] = await freePorts(
      4,
      opts.port ? [opts.port] : [],
    );
    const port = opts.port ?? grpcPort;
    const address = `127.0.0.1:${port}`;
    const args = devServerArgs({
      ip: "127.0.0.1",
      port,
      uiPort,
      httpPort,
      metricsPort,
      namespace,
      dbFile: opts.dbFile === undefined ? undefined : resolve(opts.dir, opts.dbFile),
      dynamicConfig: opts.dynamicConfig,
    });
    const proc = track(sup.start({ name: opts.name ?? "temporal", command: cli, args, cwd: opts.dir }));
    await waitFor(
      `Temporal dev server on ${address}`,
      () => probeDevServer(address, namespace).then(() => true),
      { timeoutMs: readyTimeoutMs, intervalMs: 250, process: proc },
    );
    return { address, uiUrl: `http://127.0.0.1:${uiPort}`, namespace, process: proc };
  });
}
