/**
 * Keptn (metrics.keptn.sh/v1beta1), read in the cluster with the operator's client. The query is
 * Flagger's `<type>/<namespace>/<name>/<timeframe>/<arguments>`:
 *  - `keptnmetric/<ns>/<name>`: the KeptnMetric's current `status.value`, which Keptn's metrics
 *    operator keeps fresh;
 *  - `analysis/<ns>/<definition>[/<timeframe>[/<k=v;k=v>]]`: an Analysis of that
 *    AnalysisDefinition over the recent timeframe (1m by default) is created, waited for (at most
 *    ten seconds, polling each second) and deleted; its verdict is 1 (pass) or 0 (fail).
 * Like Flagger, the query is read in lower case.
 */
import type { KubeClient } from "../../src/kube/client.ts";
import type { ResourceType } from "../../src/kube/resources.ts";
import { pause } from "../analysis-http.ts";
import { fromCluster, operatorKubeClient, servesApi } from "./cluster.ts";
import { type MetricProvider, MetricQueryError, type ProviderSettings } from "./provider.ts";

const GROUP = "metrics.keptn.sh";
const VERSION = "v1beta1";
const KEPTN_METRICS: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: "keptnmetrics",
  kind: "KeptnMetric",
};
const ANALYSES: ResourceType = { group: GROUP, version: VERSION, plural: "analyses", kind: "Analysis" };
const FORMAT = "<keptnmetric|analysis>/<namespace>/<name>/<timeframe>/<arguments>";
const NOT_INSTALLED = "is Keptn installed in the cluster?";
/** How long Keptn gets to evaluate an Analysis, and how often it is looked at, as in Flagger. */
const ANALYSIS_TIMEOUT_MS = 10_000;
const ANALYSIS_POLL_MS = 1_000;

export type KeptnQuery =
  | { readonly type: "keptnmetric"; readonly namespace: string; readonly name: string }
  | {
      readonly type: "analysis";
      readonly namespace: string;
      readonly name: string;
      readonly timeframe: string;
      readonly args: Readonly<Record<string, string>>;
    };

export function parseKeptnQuery(query: string): KeptnQuery {
  const parts = query.trim().toLowerCase().split("/");
  const [type = "", namespace = "", name = "", timeframe, args] = parts;
  if (parts.length < 3 || namespace === "" || name === "") {
    throw new MetricQueryError("config", `the keptn query "${query.trim()}" is not ${FORMAT}`);
  }
  if (type === "keptnmetric" || type === "keptnmetrics") return { type: "keptnmetric", namespace, name };
  if (type === "analysis" || type === "analyses") {
    const pairs = (args ?? "").split(";").map((pair) => pair.split("="));
    return {
      type: "analysis",
      namespace,
      name,
      timeframe: timeframe || "1m",
      args: Object.fromEntries(pairs.filter((pair) => pair.length === 2)),
    };
  }
  throw new MetricQueryError(
    "config",
    `the keptn query starts with "${type}": it must start with keptnmetric or analysis (${FORMAT})`,
  );
}

async function keptnMetricValue(kube: KubeClient, namespace: string, name: string): Promise<number> {
  const metric = await fromCluster(
    () => kube.get<{ status?: { value?: unknown; errMsg?: string } }>(KEPTN_METRICS, namespace, name),
    NOT_INSTALLED,
  );
  const value = metric.status?.value;
  const what = `KeptnMetric ${namespace}/${name}`;
  const keptnError = metric.status?.errMsg;
  if (keptnError) throw new MetricQueryError("query", `Keptn could not measure ${what}: ${keptnError}`);
  if (typeof value !== "string" || value === "") {
    throw new MetricQueryError(
      "no-data",
      `${what} has no value yet (status.value): is Keptn's metrics operator running?`,
    );
  }
  const number = Number(value);
  if (value.trim() === "" || Number.isNaN(number)) {
    throw new MetricQueryError("query", `${what} has a value that is not a number: ${JSON.stringify(value)}`);
  }
  return number;
}

async function analysisVerdict(
  kube: KubeClient,
  query: Extract<KeptnQuery, { type: "analysis" }>,
): Promise<number> {
  const { namespace, name } = query;
  const created = await fromCluster(
    () =>
      kube.create<{ metadata: { name: string } }>(ANALYSES, namespace, {
        metadata: { generateName: `${name}-`, namespace },
        spec: { analysisDefinition: { name }, timeframe: { recent: query.timeframe }, args: query.args },
      }),
    NOT_INSTALLED,
  );
  const analysis = created.metadata.name;
  try {
    const deadline = Date.now() + ANALYSIS_TIMEOUT_MS;
    while (Date.now() < deadline) {
      await pause(ANALYSIS_POLL_MS);
      const current = await fromCluster(
        () => kube.get<{ status?: { state?: string; pass?: unknown } }>(ANALYSES, namespace, analysis),
        NOT_INSTALLED,
      );
      if (current.status?.state === "Completed" && typeof current.status.pass === "boolean") {
        return current.status.pass ? 1 : 0;
      }
    }
    throw new MetricQueryError(
      "unreachable",
      `Keptn did not complete Analysis ${namespace}/${analysis} of AnalysisDefinition ${name} within ${ANALYSIS_TIMEOUT_MS / 1000}s: is Keptn's metrics operator running?`,
    );
  } finally {
    // The Analysis was only the question; a failed delete leaves a finished object behind, no harm.
    await kube.delete(ANALYSES, namespace, analysis).catch(() => undefined);
  }
}

export function keptnProvider(settings: ProviderSettings): MetricProvider {
  const kube = operatorKubeClient(settings, "keptn");
  return {
    description: "Keptn (metrics.keptn.sh) in this cluster",
    async runQuery(text) {
      const query = parseKeptnQuery(text);
      return query.type === "keptnmetric"
        ? keptnMetricValue(kube, query.namespace, query.name)
        : analysisVerdict(kube, query);
    },
    async isOnline() {
      await servesApi(kube, GROUP, VERSION, NOT_INSTALLED);
    },
  };
}
