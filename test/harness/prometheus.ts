/**
 * The test world's Prometheus: 1 s scrape and evaluation intervals, and scrape targets that tests
 * add and remove at run time as JSON files in a watched folder (file_sd). The target helpers only
 * write files, so any test process can use them.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireBinary } from "../../tools/catalog.ts";
import { freePort, type ManagedProcess, onFreshPorts, type Supervisor, waitFor } from "./process.ts";

export interface PrometheusServer {
  url: string;
  targetsDir: string;
  process: ManagedProcess;
}

function config(targetsDir: string): string {
  // JSON is valid YAML, and spares us quoting paths.
  return JSON.stringify(
    {
      global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
      scrape_configs: [
        {
          job_name: "file-sd",
          file_sd_configs: [{ files: [join(targetsDir, "*.json")], refresh_interval: "1s" }],
        },
      ],
    },
    null,
    2,
  );
}

/**
 * Starts Prometheus with its data in `opts.dir`. A test that stops it may start it again on the
 * same `port` (and data), so that clients configured with its address reach it again.
 */
export async function startPrometheus(
  sup: Supervisor,
  opts: { dir: string; port?: number; name?: string },
): Promise<PrometheusServer> {
  const targetsDir = join(opts.dir, "targets");
  mkdirSync(targetsDir, { recursive: true });
  const configFile = join(opts.dir, "prometheus.yml");
  writeFileSync(configFile, config(targetsDir));
  return onFreshPorts(async (track) => {
    const port = opts.port ?? (await freePort());
    const url = `http://127.0.0.1:${port}`;
    const proc = track(
      sup.start({
        name: opts.name ?? "prometheus",
        command: requireBinary("prometheus"),
        args: [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(opts.dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--web.enable-lifecycle",
        ],
        cwd: opts.dir,
      }),
    );
    await waitFor(
      `Prometheus on ${url}`,
      async () => {
        const res = await fetch(`${url}/-/ready`);
        if (!res.ok) throw new Error(`/-/ready answered ${res.status}`);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200, process: proc },
    );
    return { url, targetsDir, process: proc };
  });
}

function targetFile(targetsDir: string, job: string): string {
  // The job names a file, so it must not be able to name one elsewhere.
  if (!/^[A-Za-z0-9_.-]+$/.test(job))
    throw new Error(`job ${JSON.stringify(job)}: use letters, digits, _ . -`);
  return join(targetsDir, `${job}.json`);
}

/**
 * Makes Prometheus scrape `targets` (host:port) as job `job` from its next file refresh on. Labels
 * are added to every series; `__metrics_path__` sets another path than /metrics. Calling it again
 * replaces the job's targets.
 */
export function addScrapeTarget(
  targetsDir: string,
  job: string,
  targets: string[],
  labels: Record<string, string> = {},
): void {
  const file = targetFile(targetsDir, job);
  // Written aside and renamed: Prometheus must never read half a file. The aside name does not match *.json.
  const aside = `${file}.${process.pid}.tmp`;
  writeFileSync(aside, JSON.stringify([{ targets, labels: { ...labels, job } }]));
  renameSync(aside, file);
}

export function removeScrapeTarget(targetsDir: string, job: string): void {
  rmSync(targetFile(targetsDir, job), { force: true });
}

interface TargetsResponse {
  data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
}

/** Waits until Prometheus has scraped every target of `job` successfully. */
export async function waitForTargetUp(url: string, job: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `Prometheus target job=${job} up`,
    async () => {
      const res = await fetch(`${url}/api/v1/targets?state=active`);
      if (!res.ok) throw new Error(`/api/v1/targets answered ${res.status}`);
      const body = (await res.json()) as TargetsResponse;
      const targets = body.data.activeTargets.filter((t) => t.labels.job === job);
      if (targets.length === 0) throw new Error("no such target yet");
      const down = targets.find((t) => t.health !== "up");
      if (down)
        throw new Error(
          `${down.labels.instance} is ${down.health}${down.lastError ? `: ${down.lastError}` : ""}`,
        );
      return true;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** Runs an instant PromQL query and returns its vector (or the single scalar as one sample). */
export async function instantQuery(url: string, promql: string): Promise<Sample[]> {
  const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: unknown };
  };
  if (body.status !== "success" || !body.data)
    throw new Error(`query ${promql}: ${body.error ?? res.status}`);
  const { resultType, result } = body.data;
  if (resultType === "vector") {
    return (result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    }));
  }
  if (resultType === "scalar") return [{ metric: {}, value: Number((result as [number, string])[1]) }];
  throw new Error(`query ${promql}: a ${resultType} result, not an instant vector`);
}
