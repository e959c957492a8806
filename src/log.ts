/**
 * Logs, one logger for the whole process: JSON lines for log pipelines, or short lines for a
 * person when the output is a terminal (format `auto`). Also the adapter that sends the Temporal
 * SDK's own logs through it, so worker and workflow messages land in the same stream.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from "@temporalio/common";
import { type Logger, pino } from "pino";
import { prettyFactory } from "pino-pretty";

export type { Logger };

export const LOG_FORMATS = ["auto", "json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Where log lines go; a terminal (`isTTY`) gets text in the `auto` format. */
export interface LogDestination {
  write(line: string): unknown;
  readonly isTTY?: boolean;
}

/** The format a destination gets: `auto` is text on a terminal and JSON anywhere else. */
export function logFormatFor(format: LogFormat, destination: LogDestination): "json" | "text" {
  if (format !== "auto") return format;
  return destination.isTTY === true ? "text" : "json";
}

/** LOG_FORMAT, checked, so a typo does not silently switch a pipeline's logs to text. */
function formatFromEnv(value = process.env.LOG_FORMAT): LogFormat {
  if (value === undefined || value === "") return "auto";
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new Error(`LOG_FORMAT must be ${LOG_FORMATS.join(", ")}: got ${JSON.stringify(value)}`);
}

export interface LoggerOptions {
  /** Default: LOG_FORMAT, else auto. */
  format?: LogFormat | undefined;
  /** Default: stdout. */
  destination?: LogDestination;
}

export function createLogger(level = process.env.LOG_LEVEL ?? "info", options: LoggerOptions = {}): Logger {
  const base = { name: "durable-canary", level };
  const destination = options.destination ?? process.stdout;
  const format = logFormatFor(options.format ?? formatFromEnv(), destination);
  if (format === "json") return options.destination ? pino(base, options.destination) : pino(base);
  // Formatted in the calling thread, not in a transport's worker, so no line is lost at exit.
  const prettify = prettyFactory({
    translateTime: "SYS:HH:MM:ss",
    ignore: "pid,hostname,name",
    singleLine: true,
    // Our logs carry an error as a message string under `error`: it belongs on the line.
    errorLikeObjectKeys: ["err"],
    // pino-pretty colours only when stdout is a colour terminal; never in another destination.
    ...(destination === process.stdout ? {} : { colorize: false }),
  });
  return pino(base, { write: (line: string) => destination.write(prettify(line)) });
}

const levels: Record<LogLevel, "trace" | "debug" | "info" | "warn" | "error"> = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  ERROR: "error",
};

/**
 * The SDK's fields, with an Error (a failed workflow's, an activity's) as its message: JSON has
 * no form for an Error object ({} in the log), and our own lines carry errors as messages too.
 */
function fields(meta: LogMetadata | undefined): LogMetadata {
  if (!meta) return {};
  return Object.fromEntries(
    Object.entries(meta).map(([key, value]) => [key, value instanceof Error ? errorMessage(value) : value]),
  );
}

export function temporalLogger(logger: Logger): TemporalLogger {
  const at =
    (level: LogLevel) =>
    (message: string, meta?: LogMetadata): void =>
      logger[levels[level]](fields(meta), message);
  return {
    log: (level, message, meta) => at(level)(message, meta),
    trace: at("TRACE"),
    debug: at("DEBUG"),
    info: at("INFO"),
    warn: at("WARN"),
    error: at("ERROR"),
  };
}

/** An error's message for a log line or a status, whatever was thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
