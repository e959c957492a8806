/**
 * The activities the worker registers. This module provides the Kubernetes ones; metrics,
 * webhooks and alerts come from their own modules.
 */
export {
  createKubernetesActivities,
  DEFAULT_WORKLOAD_SETTINGS,
  type KubernetesActivities,
  type KubernetesActivityDeps,
} from "./kubernetes.ts";
export { SUPPORTED_PROVIDERS } from "./routing/registry.ts";
export type { WorkloadSettings } from "./workload.ts";
