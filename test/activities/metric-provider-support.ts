/**
 * What the tests of single metric providers share: provider settings as runMetrics builds them,
 * a Canary with the given metrics, a namespace of their own, and JSON answers for local servers.
 */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import type { ProviderSettings } from "../../activities/metrics/provider.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { worldEnv } from "../harness/world-env.ts";
import { spec } from "../unit/helpers/specs.ts";

export function providerSettings(
  address: string | undefined,
  credentials?: Record<string, string>,
  extra: Partial<ProviderSettings> = {},
): ProviderSettings {
  return {
    address,
    headers: {},
    insecureSkipVerify: false,
    region: undefined,
    credentials,
    credentialsSource: "Secret test/keys",
    timeoutMs: 2_000,
    denyLocal: false,
    ...extra,
  };
}

export function metricsTarget(namespace: string, metrics: Record<string, unknown>[]): Target {
  return {
    ref: { namespace, name: "podinfo" },
    spec: spec({ stepWeight: 10, metrics }),
    revision: "5f6d8c",
  };
}

export const json = (body: unknown, status = 200) => ({
  status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** A namespace for one test file, with Secrets (stringData), as the world's admin. */
export async function namespaceWithSecrets(
  name: string,
  secrets: Record<string, Record<string, string>>,
): Promise<{ core: CoreV1Api; remove(): Promise<void> }> {
  const kc = new KubeConfig();
  kc.loadFromFile(worldEnv().kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  for (const [secret, stringData] of Object.entries(secrets)) {
    await core.createNamespacedSecret({ namespace: name, body: { metadata: { name: secret }, stringData } });
  }
  return {
    core,
    async remove() {
      await core.deleteNamespace({ name });
    },
  };
}
