/**
 * A YAML writer for plain manifest data (maps, lists, strings, numbers, booleans, null), so the
 * generated CRDs read like hand-written ones. Strings that YAML could read as something else are
 * written as JSON strings, which YAML reads back unchanged.
 */

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;
const PLAIN = /^[A-Za-z_/][\w./-]*$/;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string")
    return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new Error(`cannot write ${typeof value} as YAML`);
}

function isEmptyCollection(value: unknown): boolean {
  return Array.isArray(value)
    ? value.length === 0
    : typeof value === "object" && value !== null && Object.keys(value).length === 0;
}

function isCollection(value: unknown): value is object {
  return typeof value === "object" && value !== null && !isEmptyCollection(value);
}

function block(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (!isCollection(item)) return [`${indent}- ${inline(item)}`];
      const [first = "", ...rest] = block(item, `${indent}  `);
      // The first line of an item shares the dash: "- key: value".
      return [`${indent}- ${first.slice(indent.length + 2)}`, ...rest];
    });
  }
  return Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .flatMap(([key, v]) =>
      isCollection(v)
        ? [`${indent}${scalar(key)}:`, ...block(v, `${indent}  `)]
        : [`${indent}${scalar(key)}: ${inline(v)}`],
    );
}

function inline(value: unknown): string {
  if (Array.isArray(value)) return "[]";
  if (typeof value === "object" && value !== null) return "{}";
  return scalar(value);
}

/** One YAML document; several are joined with "---". */
export function toYaml(value: object): string {
  return `${block(value, "").join("\n")}\n`;
}
