/**
 * The activities the worker registers: the Kubernetes ones (workloads, services, routing,
 * status) and the analysis ones (metrics, webhooks, alerts), together the workflow's port.
 */
import type { OperatorConfig } from "../src/config/operator.ts";
import type { KubeClient } from "../src/kube/client.ts";
import type { CanaryActivities } from "../workflows/activity-port.ts";
import { createAlert } from "./alerts/index.ts";
import { kubeAnalysisResources } from "./analysis-resources.ts";
import { createKubernetesActivities, type KubernetesActivityDeps } from "./kubernetes.ts";
import { createRunMetrics } from "./metrics/index.ts";
import { createRunWebhooks } from "./webhooks.ts";

export {
  createKubernetesActivities,
  DEFAULT_WORKLOAD_SETTINGS,
  type KubernetesActivities,
  type KubernetesActivityDeps,
} from "./kubernetes.ts";
export type { WorkloadSettings } from "./workload.ts";

export interface CanaryActivityDeps extends Omit<KubernetesActivityDeps, "kube"> {
  readonly kube: KubeClient;
  readonly config: Pick<
    OperatorConfig,
    | "metricsServer"
    | "metricsQueryTimeoutMs"
    | "clusterName"
    | "globalAlertProvider"
    | "crossNamespaceRefs"
    | "denyLocalDestinations"
  >;
}

/** Every activity of the port, over one Kubernetes client and the operator's configuration. */
export function createCanaryActivities(deps: CanaryActivityDeps): CanaryActivities {
  const resources = kubeAnalysisResources(deps.kube.kubeConfig);
  return {
    ...createKubernetesActivities(deps),
    runMetrics: createRunMetrics({ resources, config: deps.config, kube: deps.kube }),
    runWebhooks: createRunWebhooks({ config: deps.config }),
    alert: createAlert({ resources, config: deps.config }),
  };
}
