/**
 * Finding the cluster: an explicit kubeconfig path wins, then KUBECONFIG, then the in-cluster
 * service account, then ~/.kube/config, the order kubectl users expect.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

const inClusterToken = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const noCluster = "no Kubernetes cluster configured: set KUBECONFIG or pass --kubeconfig";

export function loadKubeConfig(
  options: { kubeconfig?: string | undefined } = {},
  env = process.env,
): KubeConfig {
  const kc = new KubeConfig();
  const path = options.kubeconfig ?? env.KUBECONFIG;
  if (path) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path} does not exist`);
    kc.loadFromFile(path);
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(inClusterToken)) {
    kc.loadFromCluster();
  } else {
    // Without a file client-node would make up a cluster at localhost:8080; say there is none instead.
    const home = env.HOME ?? env.USERPROFILE;
    if (!home || !existsSync(join(home, ".kube", "config"))) {
      throw new Error(noCluster);
    }
    kc.loadFromFile(join(home, ".kube", "config"));
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(noCluster);
  }
  return kc;
}
