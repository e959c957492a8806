/**
 * The Kubernetes external metrics API (external.metrics.k8s.io/v1beta1), which adapters such as
 * KEDA, prometheus-adapter or the Datadog Cluster Agent serve. The query is Flagger's
 * `[<namespace>/]<metric>[?labelSelector=<url-encoded selector>]` (namespace `default` when left
 * out); the value is the one item's quantity.
 *
 * Without `provider.address` the metric is read through the cluster's API server with the
 * operator's client, as any HPA reads it. With an address the adapter is asked directly, with the
 * bearer token the template's Secret holds under `token`, if any: the operator's own credentials
 * never go to an address a template names.
 */
import type { ResourceType } from "../../src/kube/resources.ts";
import { fromCluster, operatorKubeClient, servesApi } from "./cluster.ts";
import {
  apiUrl,
  getJson,
  type MetricProvider,
  MetricQueryError,
  type ProviderSettings,
  singleValue,
  templateHeaders,
} from "./provider.ts";

const GROUP = "external.metrics.k8s.io";
const VERSION = "v1beta1";
const FORMAT = "[<namespace>/]<metric>[?labelSelector=<url-encoded selector>]";
const NOT_SERVED =
  "is an external metrics adapter (KEDA, prometheus-adapter, ...) registered as an APIService?";
const ONE_VALUE_HINT = "narrow the labelSelector to one series";

interface ExternalMetricValueList {
  readonly items?: readonly { readonly metricName?: string; readonly value?: string }[];
  readonly message?: string;
}

export interface ExternalMetricQuery {
  readonly namespace: string;
  readonly metric: string;
  readonly labelSelector: string | undefined;
}

export function parseExternalMetricQuery(query: string): ExternalMetricQuery {
  const text = query.trim();
  const [path = "", search = ""] = text.split(/\?(.*)/s);
  const parts = path.replace(/^\//, "").split("/");
  const [first = "", second] = parts;
  const metric = second ?? first;
  if (parts.length > 2 || metric === "") {
    throw new MetricQueryError("config", `the externalmetrics query "${text}" is not ${FORMAT}`);
  }
  const labelSelector = new URLSearchParams(search).get("labelSelector") || undefined;
  return { namespace: second !== undefined && first !== "" ? first : "default", metric, labelSelector };
}

const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** A Kubernetes quantity ("950m", "12k", "1.5Gi", "2e3") as a number. */
export function quantityValue(quantity: string): number {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/.exec(
    quantity.trim(),
  );
  if (match === null)
    throw new MetricQueryError("http", `the adapter answered a value that is not a quantity: ${quantity}`);
  const [, number, exponent, suffix = ""] = match;
  const binary = BINARY[suffix];
  if (binary !== undefined) return Number(number) * 2 ** binary;
  // Parsed as one decimal literal, so 950m is exactly 0.95 rather than 950 * 0.001.
  return Number(`${number}e${exponent ?? DECIMAL[suffix] ?? 0}`);
}

function listValue(list: ExternalMetricValueList, query: string): number {
  const values = (list.items ?? []).flatMap((item) =>
    item.value === undefined ? [] : [quantityValue(item.value)],
  );
  return singleValue(values, query, ONE_VALUE_HINT);
}

/** Through the API server, with the operator's client. */
function clusterProvider(settings: ProviderSettings): MetricProvider {
  const kube = operatorKubeClient(settings, "externalmetrics");
  return {
    description: `the external metrics API (${GROUP}) of this cluster`,
    async runQuery(text) {
      const query = parseExternalMetricQuery(text);
      const metric: ResourceType = {
        group: GROUP,
        version: VERSION,
        plural: query.metric,
        kind: "ExternalMetricValue",
      };
      const list = await fromCluster(
        () =>
          kube.list<NonNullable<ExternalMetricValueList["items"]>[number]>(metric, query.namespace, {
            ...(query.labelSelector === undefined ? {} : { labelSelector: query.labelSelector }),
          }),
        NOT_SERVED,
        `the cluster has no external metric ${query.metric} in namespace ${query.namespace} (${NOT_SERVED})`,
      );
      return listValue(list, text);
    },
    isOnline: () => servesApi(kube, GROUP, VERSION, NOT_SERVED),
  };
}

/** Straight to the adapter at `address`. */
function directProvider(settings: ProviderSettings, address: string): MetricProvider {
  const description = `the external metrics API at ${address}`;
  const token = settings.credentials?.token;
  const headers = {
    accept: "application/json",
    ...templateHeaders(settings.headers),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const get = (path: string, params: Record<string, string>) =>
    getJson<ExternalMetricValueList>(
      description,
      settings,
      apiUrl(address, path, params),
      headers,
      (answer) => answer.message,
    );
  const root = `apis/${GROUP}/${VERSION}`;
  return {
    description,
    async runQuery(text) {
      const query = parseExternalMetricQuery(text);
      const list = await get(
        `${root}/namespaces/${encodeURIComponent(query.namespace)}/${encodeURIComponent(query.metric)}`,
        query.labelSelector === undefined ? {} : { labelSelector: query.labelSelector },
      );
      return listValue(list, text);
    },
    async isOnline() {
      await get(root, {});
    },
  };
}

export function externalMetricsProvider(settings: ProviderSettings): MetricProvider {
  return settings.address === undefined
    ? clusterProvider(settings)
    : directProvider(settings, settings.address);
}
