/**
 * Renders MetricTemplate queries. Flagger's templates are Go templates, but what users write in
 * them is variable substitution: `{{ namespace }}`, `{{ target }}`, `{{ interval }}`,
 * `{{ variables.my_var }}`, also with Go's leading dot, its `{{- x -}}` trim markers and its comments.
 * This renderer understands exactly that and rejects everything else with a message: nothing in a
 * template is ever executed.
 */

export interface TemplateVariables {
  /** The Canary's name and namespace. */
  readonly name: string;
  readonly namespace: string;
  /** targetRef.name. */
  readonly target: string;
  /** The apex service name. */
  readonly service: string;
  /** ingressRef.name / routeRef.name, when the Canary has them. */
  readonly ingress: string | undefined;
  readonly route: string | undefined;
  /** The metric's window, e.g. "1m". */
  readonly interval: string;
  /** analysis.metrics[].templateVariables. */
  readonly variables: Readonly<Record<string, string>>;
}

export class TemplateError extends Error {
  override name = "TemplateError";
}

const SCALARS = ["name", "namespace", "target", "service", "ingress", "route", "interval"] as const;
type Scalar = (typeof SCALARS)[number];

/** Where each optional variable comes from, for the error when it is unset. */
const SOURCES: Partial<Record<Scalar, string>> = { ingress: "ingressRef", route: "routeRef" };

const ACTION = /^\.?([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_-]+))?$/;

export function renderTemplate(template: string, vars: TemplateVariables): string {
  let out = "";
  let at = 0;
  for (;;) {
    const open = template.indexOf("{{", at);
    if (open === -1) return out + template.slice(at);
    const close = template.indexOf("}}", open + 2);
    if (close === -1) throw new TemplateError(`unclosed "{{" at ${position(template, open)}`);
    let text = template.slice(at, open);
    let inner = template.slice(open + 2, close);
    let next = close + 2;
    if (/^-\s/.test(inner)) {
      text = text.trimEnd();
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      next = skipSpace(template, next);
    }
    out += text;
    const expression = inner.trim();
    if (!(expression.startsWith("/*") && expression.endsWith("*/"))) {
      out += evaluate(expression, vars, position(template, open));
    }
    at = next;
  }
}

function evaluate(expression: string, vars: TemplateVariables, where: string): string {
  const match = ACTION.exec(expression);
  const [, head, key] = match ?? [];
  if (head === "variables" && key !== undefined) {
    const value = vars.variables[key];
    if (value === undefined) {
      const known = Object.keys(vars.variables);
      throw new TemplateError(
        `{{ variables.${key} }} at ${where}: templateVariables has no key ${key}` +
          (known.length > 0 ? ` (it has ${known.join(", ")})` : " (the metric sets no templateVariables)"),
      );
    }
    return value;
  }
  if (key === undefined && head !== undefined && (SCALARS as readonly string[]).includes(head)) {
    const value = vars[head as Scalar];
    if (value === undefined) {
      throw new TemplateError(
        `{{ ${head} }} at ${where}: the Canary has no ${SOURCES[head as Scalar] ?? head}`,
      );
    }
    return value;
  }
  throw new TemplateError(
    `unsupported template expression {{ ${expression} }} at ${where}: use one of ${SCALARS.map((s) => `{{ ${s} }}`).join(", ")} or {{ variables.<key> }}`,
  );
}

function skipSpace(text: string, from: number): number {
  let at = from;
  while (at < text.length && /\s/.test(text[at] as string)) at++;
  return at;
}

function position(text: string, offset: number): string {
  const before = text.slice(0, offset).split("\n");
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}
