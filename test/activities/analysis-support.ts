/**
 * Analysis resources for metric tests: MetricTemplates in memory, so tests can use specs the CRD
 * schema would refuse (reading them from the cluster is tested in
 * metrics-analysis-resources.test.ts); Secrets from the API server, read as the operator's service
 * account, as in production.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { type AnalysisResources, kubeAnalysisResources } from "../../activities/analysis-resources.ts";
import { worldEnv } from "../harness/world-env.ts";

export function inMemoryTemplates(): { templates: Map<string, unknown>; resources: AnalysisResources } {
  const operator = new KubeConfig();
  operator.loadFromFile(worldEnv().operatorKubeconfig);
  const templates = new Map<string, unknown>();
  return {
    templates,
    resources: {
      ...kubeAnalysisResources(operator),
      metricTemplate: async (ns, name) => templates.get(`${ns}/${name}`),
    },
  };
}
