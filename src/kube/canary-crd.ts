/**
 * Whether the Canary CRD the cluster serves is durable-canary's. After a move from Flagger the
 * cluster may still serve Flagger's CRD (Helm never replaces a CRD that exists, and a GitOps tool
 * may put Flagger's back). Canaries would still be read, but the API server would silently drop the
 * fields only this operator's schema has: a gate timeout the user wrote would never fire, and the
 * status would lose the last analysis and command.
 */
import { errorMessage } from "../log.ts";
import type { KubeClient } from "./client.ts";
import { isForbidden, isNotFound } from "./errors.ts";
import { qualifiedName, RESOURCES } from "./resources.ts";

/** Paths that only this operator's Canary schema declares. */
const OWN_FIELDS: readonly (readonly string[])[] = [
  ["spec", "analysis", "gateTimeout"],
  ["status", "lastAnalysis"],
  ["status", "lastCommand"],
];

interface SchemaNode {
  readonly properties?: Record<string, SchemaNode>;
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean;
}

interface CrdVersion {
  readonly name: string;
  readonly schema?: { readonly openAPIV3Schema?: SchemaNode };
}

export interface CrdObject {
  readonly spec?: { readonly versions?: readonly CrdVersion[] };
}

/** Whether a value at `path` survives the API server's pruning under `schema`. */
function keeps(schema: SchemaNode, path: readonly string[]): boolean {
  let node: SchemaNode | undefined = schema;
  for (const key of path) {
    if (node["x-kubernetes-preserve-unknown-fields"] === true) return true;
    node = node.properties?.[key];
    if (node === undefined) return false;
  }
  return true;
}

/** The operator's fields that a Canary CRD would prune from `version` objects (none for its own). */
export function prunedFields(crd: CrdObject, version = RESOURCES.canaries.version): string[] {
  const schema = crd.spec?.versions?.find((v) => v.name === version)?.schema?.openAPIV3Schema;
  return OWN_FIELDS.filter((path) => schema === undefined || !keeps(schema, path)).map((path) =>
    path.join("."),
  );
}

export type CanaryCrdCheck =
  | { readonly state: "own" }
  | { readonly state: "foreign"; readonly message: string }
  | { readonly state: "unknown"; readonly message: string };

export const CANARY_CRD = qualifiedName(RESOURCES.canaries);

/** Reads the served Canary CRD; `foreign` says what is lost and how to fix it. */
export async function checkCanaryCrd(kube: KubeClient, name = CANARY_CRD): Promise<CanaryCrdCheck> {
  let crd: CrdObject;
  try {
    crd = await kube.get<CrdObject>(RESOURCES.customResourceDefinitions, "", name);
  } catch (err) {
    if (isNotFound(err)) return { state: "unknown", message: `the CRD ${name} is not installed yet` };
    if (isForbidden(err)) {
      return {
        state: "unknown",
        message: `no permission to read the CRD ${name}, so its schema is not checked`,
      };
    }
    return { state: "unknown", message: `the CRD ${name} could not be read: ${errorMessage(err)}` };
  }
  const pruned = prunedFields(crd);
  if (pruned.length === 0) return { state: "own" };
  return {
    state: "foreign",
    message:
      `the installed CRD ${name} is not durable-canary's (Flagger's?): the API server would drop ` +
      `${pruned.join(", ")} from every Canary. Replace it with this release's CRDs, for example ` +
      "kubectl apply --server-side --force-conflicts -f deploy/crds/ (the chart's crds/ holds the same), " +
      "and keep whatever reconciles Flagger's CRDs from putting them back",
  };
}
