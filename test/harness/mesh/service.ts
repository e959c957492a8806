/** TEST CODE ONLY: the kubernetes provider has no weights: the apex Service selects one side. */
import { ApiException } from "@kubernetes/client-node";
import { ALL_TO_PRIMARY, type SplitReader } from "./split.ts";

export const readServiceSplit: SplitReader = async (app, { core }) => {
  try {
    const service = await core.readNamespacedService({ namespace: app.namespace, name: app.service });
    const selectsPrimary = Object.values(service.spec?.selector ?? {}).some((v) => v.endsWith("-primary"));
    return selectsPrimary ? ALL_TO_PRIMARY : { ...ALL_TO_PRIMARY, primaryWeight: 0, canaryWeight: 100 };
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return ALL_TO_PRIMARY;
    throw error;
  }
};
