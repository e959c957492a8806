/** Installs CustomResourceDefinitions into the test cluster and waits until they are served. */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ApiextensionsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import { waitFor } from "./process.ts";

const here = dirname(fileURLToPath(import.meta.url));

const routingCrdDir = join(here, "../data/crds");

/** Routing CRDs the traffic providers need: every file in test/data/crds (update.ts says where each comes from). */
export const routingCrdFiles = readdirSync(routingCrdDir)
  .filter((file) => file.endsWith(".yaml"))
  .sort()
  .map((file) => join(routingCrdDir, file));

/** Applies every CRD in the files (server-side apply, so re-running is harmless) and waits for Established. */
export async function installCrds(kubeconfig: string, files: string[]): Promise<string[]> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const objects = kc.makeApiClient(KubernetesObjectApi);
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const file of files) {
    for (const doc of loadAllYaml(readFileSync(file, "utf8")) as V1CustomResourceDefinition[]) {
      if (doc?.kind !== "CustomResourceDefinition" || !doc.metadata?.name) continue;
      await objects.patch(
        doc,
        undefined,
        undefined,
        "durable-canary-tests",
        true,
        PatchStrategy.ServerSideApply,
      );
      names.push(doc.metadata.name);
    }
  }
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const crd = await extensions.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")
          ? true
          : undefined;
      },
      { timeoutMs: 30_000 },
    );
  }
  return names;
}
