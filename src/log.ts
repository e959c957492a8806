/**
 * Structured logs (JSON lines, one logger for the whole process) and the adapter that sends the
 * Temporal SDK's own logs through it, so worker and workflow messages land in the same stream.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from "@temporalio/common";
import { type Logger, pino } from "pino";

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "durable-canary", level });
}

const levels: Record<LogLevel, "trace" | "debug" | "info" | "warn" | "error"> = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  ERROR: "error",
};

export function temporalLogger(logger: Logger): TemporalLogger {
  const at =
    (level: LogLevel) =>
    (message: string, meta?: LogMetadata): void =>
      logger[levels[level]](meta ?? {}, message);
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
