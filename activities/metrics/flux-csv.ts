/**
 * Reads the annotated CSV that InfluxDB's Flux query API answers: groups of tables, each group
 * a block of annotation rows (`#datatype`, `#group`, `#default`), a header row and data rows, and
 * blocks separated by an empty line. What the metric needs is, per table, its `_value`s in order.
 */

export interface FluxTable {
  /** The `result` (yield name) and `table` number that identify the table. */
  readonly id: string;
  /** The header row's column names. */
  readonly columns: readonly string[];
  /** The `_value` column's Flux type, e.g. "double", "long". */
  readonly datatype: string | undefined;
  /** The `_value` cells in row order; undefined where the value is null. */
  readonly values: (string | undefined)[];
}

/** A table of columns `error` and `reference`: how Flux reports a failure in mid-answer. */
export class FluxCsvError extends Error {
  override name = "FluxCsvError";
}

/** Splits CSV text into rows of fields (RFC 4180: quoted fields may hold commas, quotes, newlines). */
export function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The tables of an annotated CSV answer, in the order they appear. */
export function fluxTables(text: string): FluxTable[] {
  const tables = new Map<string, FluxTable>();
  let header: string[] | undefined;
  let datatypes: string[] = [];
  let defaults: string[] = [];
  for (const row of csvRows(text)) {
    const first = row[0] ?? "";
    if (row.length === 1 && first === "") {
      header = undefined;
      datatypes = [];
      defaults = [];
      continue;
    }
    if (first.startsWith("#")) {
      // Annotations open a new block, whose header comes next.
      header = undefined;
      if (first === "#datatype") datatypes = row;
      if (first === "#default") defaults = row;
      continue;
    }
    if (header === undefined) {
      header = row;
      continue;
    }
    const columns = header;
    const cell = (name: string): string | undefined => {
      const at = columns.indexOf(name);
      if (at === -1) return undefined;
      const value = row[at] || defaults[at] || "";
      return value === "" ? undefined : value;
    };
    if (columns.includes("error")) throw new FluxCsvError(cell("error") ?? "unknown error");
    const id = `${cell("result") ?? "_result"}/${cell("table") ?? "0"}`;
    let table = tables.get(id);
    if (table === undefined) {
      const at = columns.indexOf("_value");
      table = { id, columns, datatype: at === -1 ? undefined : datatypes[at] || undefined, values: [] };
      tables.set(id, table);
    }
    table.values.push(cell("_value"));
  }
  return [...tables.values()];
}
