/**
 * Go-style durations ("1m30s", "500ms", "1.5h"), the format Flagger manifests use for
 * intervals and timeouts. Values are returned in milliseconds (fractions allowed below 1 ms).
 */

const NANOS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // micro sign, as Go accepts it
  μs: 1e3, // Greek mu, as Go accepts it
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's limit: a duration is an int64 count of nanoseconds (about 292 years). */
const MAX_MS = 2 ** 63 / 1e6;

const UNITS_HINT = 'use a number followed by a unit (ns, us, ms, s, m, h), e.g. "30s", "1m30s" or "500ms"';

export class DurationError extends Error {
  override name = "DurationError";
  /** What is wrong, without the input, e.g. "missing unit after 10". */
  readonly problem: string;

  constructor(text: string, problem: string, hint = UNITS_HINT) {
    super(`invalid duration ${JSON.stringify(text)}: ${problem}; ${hint}`);
    this.problem = problem;
  }
}

/** Parses a Go duration string to milliseconds; throws DurationError naming what is wrong. */
export function parseDuration(text: string): number {
  function fail(problem: string): never {
    throw new DurationError(text, problem);
  }
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") fail("it is empty");

  // One "<number><unit>" component per match; sticky so components must follow each other exactly.
  const component = /(\d*)(?:\.(\d*))?([^\d.]*)/y;
  let ms = 0;
  while (component.lastIndex < rest.length) {
    // Every part of the pattern is optional, so it always matches.
    const [, whole = "", fraction, unit = ""] = component.exec(rest) as RegExpExecArray;
    if (whole === "" && (fraction === undefined || fraction === "")) fail("expected a number");
    if (unit === "") fail(`missing unit after ${whole}${fraction === undefined ? "" : `.${fraction}`}`);
    const perUnit = NANOS_PER_UNIT[unit];
    if (perUnit === undefined) fail(`unknown unit ${JSON.stringify(unit)}`);
    // Rounded to whole nanoseconds, Go's resolution, so "1.1s" is exactly 1100 ms.
    ms += Math.round(Number(`${whole || "0"}.${fraction ?? "0"}`) * perUnit) / 1e6;
  }
  if (ms > MAX_MS) fail("it is too large");
  return sign * ms;
}

/** Formats milliseconds compactly for people: 90000 → "1m30s", 500 → "500ms", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count}${unit}`);
    rest -= count * size;
  }
  if (rest > 0) parts.push(`${Number(rest.toFixed(6))}ms`);
  return sign + parts.join("");
}

/** Prometheus duration units, largest first: the order Prometheus requires them in. */
const PROMETHEUS_UNITS_MS: readonly (readonly [string, number])[] = [
  ["y", 365 * 86_400_000],
  ["w", 7 * 86_400_000],
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/** Whole numbers with units, largest first, each unit at most once: what a PromQL range selector takes. */
const PROMETHEUS_DURATION = new RegExp(
  `^${PROMETHEUS_UNITS_MS.map(([unit]) => `(?:(\\d+)${unit})?`).join("")}$`,
);

/**
 * Parses a Prometheus duration ("1m", "1h30m", "2d") to milliseconds; throws DurationError when
 * Prometheus would refuse it (fractions, Go-only units such as "us", units out of order).
 */
export function parsePrometheusDuration(text: string): number {
  const match = text === "" ? null : PROMETHEUS_DURATION.exec(text);
  if (match === null) {
    throw new DurationError(
      text,
      "not a Prometheus duration (whole numbers with units y, w, d, h, m, s, ms, largest first)",
      'e.g. "30s", "1m" or "1h30m"',
    );
  }
  return PROMETHEUS_UNITS_MS.reduce((ms, [, size], i) => ms + Number(match[i + 1] ?? 0) * size, 0);
}
