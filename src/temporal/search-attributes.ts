/**
 * The search attributes every canary workflow carries, so that rollouts can be found and filtered
 * in the Temporal UI and by `durable-canary list`. Safe to import from workflow code: it depends on
 * @temporalio/common only.
 */
import { defineSearchAttributeKey, SearchAttributeType } from "@temporalio/common";

export const searchAttributes = {
  CanaryName: defineSearchAttributeKey("CanaryName", SearchAttributeType.KEYWORD),
  CanaryNamespace: defineSearchAttributeKey("CanaryNamespace", SearchAttributeType.KEYWORD),
  CanaryPhase: defineSearchAttributeKey("CanaryPhase", SearchAttributeType.KEYWORD),
  CanaryWeight: defineSearchAttributeKey("CanaryWeight", SearchAttributeType.INT),
  TargetRevision: defineSearchAttributeKey("TargetRevision", SearchAttributeType.KEYWORD),
} as const;

export const searchAttributeKeys = Object.values(searchAttributes);

/**
 * How each type is spelled on the `temporal` command line, and its wire value
 * (temporal.api.enums.v1.IndexedValueType) for the operator API.
 */
export const searchAttributeTypeNames: Record<
  SearchAttributeType,
  { cli: string; indexedValueType: number }
> = {
  TEXT: { cli: "Text", indexedValueType: 1 },
  KEYWORD: { cli: "Keyword", indexedValueType: 2 },
  INT: { cli: "Int", indexedValueType: 3 },
  DOUBLE: { cli: "Double", indexedValueType: 4 },
  BOOL: { cli: "Bool", indexedValueType: 5 },
  DATETIME: { cli: "Datetime", indexedValueType: 6 },
  KEYWORD_LIST: { cli: "KeywordList", indexedValueType: 7 },
};

/** `--search-attribute Name=Type` flags for `temporal server start-dev`. */
export function searchAttributeFlags(): string[] {
  return searchAttributeKeys.flatMap((key) => [
    "--search-attribute",
    `${key.name}=${searchAttributeTypeNames[key.type].cli}`,
  ]);
}
