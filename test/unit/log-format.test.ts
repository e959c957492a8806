/**
 * The operator's log format: JSON lines for pipelines and files, short text lines for a person at
 * a terminal, chosen by `--log-format` (or LOG_FORMAT) or, in `auto`, by whether stdout is a TTY.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { Command } from "commander";
import { createLogger, type LogDestination, logFormatFor, temporalLogger } from "../../src/log.ts";
import { type RunFlags, runOptions } from "../../src/operator/options.ts";

function destination(isTTY: boolean): LogDestination & { lines: string[] } {
  const lines: string[] = [];
  return { isTTY, lines, write: (line: string) => lines.push(line) };
}

function flags(args: string[]): RunFlags {
  return runOptions(new Command("run").exitOverride()).parse(args, { from: "user" }).opts<RunFlags>();
}

const savedFormat = process.env.LOG_FORMAT;
afterEach(() => {
  if (savedFormat === undefined) delete process.env.LOG_FORMAT;
  else process.env.LOG_FORMAT = savedFormat;
});

describe("log format", () => {
  it("auto is text on a terminal and JSON anywhere else; json and text are kept", () => {
    assert.equal(logFormatFor("auto", destination(true)), "text");
    assert.equal(logFormatFor("auto", destination(false)), "json");
    assert.equal(logFormatFor("json", destination(true)), "json");
    assert.equal(logFormatFor("text", destination(false)), "text");
  });

  it("writes one short line for a person on a terminal, with the fields on it", () => {
    const tty = destination(true);
    const log = createLogger("info", { destination: tty });
    log.info({ url: "http://127.0.0.1:8080" }, "operator ready");
    log.warn({ error: "connection refused" }, "Temporal is unreachable");
    log.debug("below the level");
    assert.equal(tty.lines.length, 2);
    assert.match(
      tty.lines[0] ?? "",
      /^\[\d\d:\d\d:\d\d\] INFO: operator ready \{"url":"http:\/\/127\.0\.0\.1:8080"\}\n$/,
    );
    assert.match(
      tty.lines[1] ?? "",
      /^\[\d\d:\d\d:\d\d\] WARN: Temporal is unreachable \{"error":"connection refused"\}\n$/,
    );
  });

  it("writes JSON lines to a pipe, with the level, the name and the fields", () => {
    const pipe = destination(false);
    createLogger("info", { destination: pipe }).info({ url: "http://x.test" }, "operator ready");
    const line = JSON.parse(pipe.lines[0] ?? "");
    assert.equal(line.msg, "operator ready");
    assert.equal(line.level, 30);
    assert.equal(line.name, "durable-canary");
    assert.equal(line.url, "http://x.test");
  });

  it("takes LOG_FORMAT when no flag is given, and the flag over it", () => {
    process.env.LOG_FORMAT = "json";
    const tty = destination(true);
    createLogger("info", { destination: tty }).info("hello");
    assert.equal(JSON.parse(tty.lines[0] ?? "").msg, "hello");
    const pipe = destination(false);
    createLogger("info", { format: "text", destination: pipe }).info("hello");
    assert.match(pipe.lines[0] ?? "", /INFO: hello/);
    process.env.LOG_FORMAT = "pretty";
    assert.throws(() => createLogger("info", { destination: pipe }), /LOG_FORMAT must be auto, json, text/);
  });

  it("--log-format takes auto, json or text, and nothing by default (LOG_FORMAT decides)", () => {
    assert.equal(flags([]).logFormat, undefined);
    assert.equal(flags(["--log-format", "text"]).logFormat, "text");
    assert.equal(flags(["--log-format=json"]).logFormat, "json");
    assert.throws(() => flags(["--log-format", "pretty"]), /Allowed choices are auto, json, text/);
  });

  it("gives the Temporal SDK's error fields as their message, not as an empty object", () => {
    const pipe = destination(false);
    temporalLogger(createLogger("info", { destination: pipe })).warn("Workflow failed", {
      workflowId: "canary/demo/podinfo",
      error: new Error("3 failed checks reached the threshold"),
    });
    const line = JSON.parse(pipe.lines[0] ?? "");
    assert.equal(line.msg, "Workflow failed");
    assert.equal(line.level, 40);
    assert.equal(line.workflowId, "canary/demo/podinfo");
    assert.equal(line.error, "3 failed checks reached the threshold");
  });
});
