/**
 * The CustomResourceDefinitions of flagger.app/v1beta1 (Canary, MetricTemplate, AlertProvider),
 * generated from the zod schemas in src/api so the API server validates what the controller
 * validates. `node src/kube/crds.ts` writes them to deploy/crds/; a unit test fails when the
 * committed files are stale.
 *
 * JSON Schema from zod becomes a Kubernetes structural schema: open objects keep unknown fields
 * (x-kubernetes-preserve-unknown-fields), number-or-name fields are int-or-string, and unions the
 * API server cannot express structurally accept any value (the controller's validation names the
 * problem instead).
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import {
  AlertProviderSpecSchema,
  API_GROUP,
  CanarySpecSchema,
  CanaryStatusSchema,
  MetricTemplateSpecSchema,
} from "../api/canary.ts";
import { toYaml } from "./yaml.ts";

type JsonSchema = Record<string, unknown>;

/** Converts one JSON Schema node (zod output, OpenAPI 3.0 flavour) to a structural schema node. */
export function toStructuralSchema(node: JsonSchema): JsonSchema {
  const { anyOf, additionalProperties, properties, items, maximum, ...rest } = node;
  if (Array.isArray(anyOf)) {
    const types = new Set((anyOf as JsonSchema[]).map((alt) => alt.type));
    if (types.size === 2 && types.has("integer") && types.has("string")) {
      return { "x-kubernetes-int-or-string": true };
    }
    return { "x-kubernetes-preserve-unknown-fields": true };
  }
  const out: JsonSchema = { ...rest };
  // zod writes the safe-integer limit for unbounded integers; it says nothing to a reader.
  if (maximum !== undefined && maximum !== Number.MAX_SAFE_INTEGER) out.maximum = maximum;
  if (properties !== undefined) {
    out.properties = Object.fromEntries(
      Object.entries(properties as Record<string, JsonSchema>).map(([key, value]) => [
        key,
        toStructuralSchema(value),
      ]),
    );
  }
  if (items !== undefined) out.items = toStructuralSchema(items as JsonSchema);
  if (additionalProperties !== undefined && additionalProperties !== false) {
    const open = Object.keys(additionalProperties as JsonSchema).length === 0;
    if (open) out["x-kubernetes-preserve-unknown-fields"] = true;
    else if (properties === undefined)
      out.additionalProperties = toStructuralSchema(additionalProperties as JsonSchema);
  }
  return out;
}

function schemaOf(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: "openapi-3.0",
    io: "input",
    unrepresentable: "any",
  }) as JsonSchema;
  delete json.$schema;
  return toStructuralSchema(json);
}

interface PrinterColumn {
  readonly name: string;
  readonly type: "string" | "integer" | "date";
  readonly jsonPath: string;
  readonly priority?: number;
}

interface CrdInput {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly spec: z.ZodType;
  readonly status?: z.ZodType;
  readonly columns: readonly PrinterColumn[];
  readonly categories?: readonly string[];
}

function crd(input: CrdInput): object {
  const properties: JsonSchema = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: schemaOf(input.spec),
  };
  if (input.status) properties.status = schemaOf(input.status);
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${input.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind: input.kind,
        listKind: `${input.kind}List`,
        plural: input.plural,
        singular: input.singular,
        ...(input.categories ? { categories: input.categories } : {}),
      },
      scope: "Namespaced",
      versions: [
        {
          name: "v1beta1",
          served: true,
          storage: true,
          ...(input.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: input.columns,
          schema: { openAPIV3Schema: { type: "object", required: ["spec"], properties } },
        },
      ],
    },
  };
}

/** File name → CRD object. */
export function customResourceDefinitions(): Record<string, object> {
  return {
    "canaries.yaml": crd({
      kind: "Canary",
      plural: "canaries",
      singular: "canary",
      spec: CanarySpecSchema,
      status: CanaryStatusSchema,
      categories: ["all"],
      columns: [
        { name: "Status", type: "string", jsonPath: ".status.phase" },
        { name: "Weight", type: "integer", jsonPath: ".status.canaryWeight" },
        { name: "FailedChecks", type: "integer", jsonPath: ".status.failedChecks" },
        { name: "Interval", type: "string", jsonPath: ".spec.analysis.interval", priority: 1 },
        { name: "StepWeight", type: "integer", jsonPath: ".spec.analysis.stepWeight", priority: 1 },
        { name: "MaxWeight", type: "integer", jsonPath: ".spec.analysis.maxWeight", priority: 1 },
        { name: "LastTransitionTime", type: "string", jsonPath: ".status.lastTransitionTime" },
      ],
    }),
    "metrictemplates.yaml": crd({
      kind: "MetricTemplate",
      plural: "metrictemplates",
      singular: "metrictemplate",
      spec: MetricTemplateSpecSchema,
      columns: [
        { name: "Provider", type: "string", jsonPath: ".spec.provider.type" },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ],
    }),
    "alertproviders.yaml": crd({
      kind: "AlertProvider",
      plural: "alertproviders",
      singular: "alertprovider",
      spec: AlertProviderSpecSchema,
      columns: [
        { name: "Type", type: "string", jsonPath: ".spec.type" },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ],
    }),
  };
}

export const CRD_HEADER =
  "# Generated by `node src/kube/crds.ts` from the zod schemas in src/api/canary.ts. Do not edit.\n";

/** The YAML of each CRD file, as committed under deploy/crds/. */
export function renderCustomResourceDefinitions(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(customResourceDefinitions()).map(([file, object]) => [file, CRD_HEADER + toYaml(object)]),
  );
}

export const crdDirectory = join(dirname(fileURLToPath(import.meta.url)), "../../deploy/crds");

if (import.meta.main) {
  for (const [file, text] of Object.entries(renderCustomResourceDefinitions())) {
    writeFileSync(join(crdDirectory, file), text);
    process.stdout.write(`wrote deploy/crds/${file}\n`);
  }
}
