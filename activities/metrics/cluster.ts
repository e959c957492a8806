/**
 * For providers whose data lives in the cluster (keptn, externalmetrics): the operator's
 * Kubernetes client, and its API errors as failed checks that say what to fix.
 */
import { ApiException, CustomObjectsApi } from "@kubernetes/client-node";
import type { KubeClient } from "../../src/kube/client.ts";
import { KubeApiError } from "../../src/kube/errors.ts";
import { errorMessage } from "../../src/log.ts";
import { MetricQueryError, type ProviderSettings } from "./provider.ts";

export function operatorKubeClient(settings: ProviderSettings, provider: string): KubeClient {
  if (settings.kube === undefined) {
    throw new MetricQueryError(
      "config",
      `the ${provider} provider reads the cluster, and this metrics runner was given no Kubernetes client`,
    );
  }
  return settings.kube;
}

/**
 * Runs a request to the API server. Refusals (forbidden, not found, not served) are the
 * configuration's to fix; anything else means the API could not answer. `notFound` replaces the
 * message for a 404 where the generic one (a missing object or CRD) would mislead.
 */
export async function fromCluster<T>(
  request: () => Promise<T>,
  notServedHint: string,
  notFound?: string,
): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (!(error instanceof KubeApiError)) {
      throw new MetricQueryError("unreachable", `the Kubernetes API did not answer: ${errorMessage(error)}`);
    }
    if (error.code === 404 && notFound !== undefined) throw new MetricQueryError("config", notFound);
    if (error.typeNotServed) throw new MetricQueryError("config", `${error.message} (${notServedHint})`);
    const kind =
      error.code === 403 || error.code === 404 ? "config" : error.code === 0 ? "unreachable" : "http";
    throw new MetricQueryError(kind, error.message);
  }
}

/**
 * Whether the API server serves `group/version` (discovery, which every authenticated client may
 * read): 404 when nothing registers it, 503 when an aggregated API's server is down.
 */
export async function servesApi(
  kube: KubeClient,
  group: string,
  version: string,
  hint: string,
): Promise<void> {
  try {
    await kube.api(CustomObjectsApi).getAPIResources({ group, version });
  } catch (error) {
    const api = `${group}/${version}`;
    if (!(error instanceof ApiException)) {
      throw new MetricQueryError("unreachable", `the Kubernetes API did not answer: ${errorMessage(error)}`);
    }
    if (error.code === 404)
      throw new MetricQueryError("config", `the cluster does not serve ${api} (${hint})`);
    throw new MetricQueryError(
      "unreachable",
      `the cluster cannot serve ${api}: HTTP ${error.code} (${hint})`,
    );
  }
}
