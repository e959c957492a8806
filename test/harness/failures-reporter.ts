/**
 * A node:test reporter that writes only the failed tests, each with its file and error. `npm test`
 * prints this after the world's logs, so the end of a failed run says what failed and why.
 */
import { inspect } from "node:util";

interface FailEvent {
  type: "test:fail";
  data: { name: string; nesting: number; file?: string; line?: number; details: { error: unknown } };
}

/** The test runner wraps what a test threw; the thrown error is its cause. */
function thrown(error: unknown): unknown {
  const wrapped = error as { code?: string; cause?: unknown };
  return wrapped?.code === "ERR_TEST_FAILURE" && wrapped.cause !== undefined ? wrapped.cause : error;
}

export default async function* failures(source: AsyncIterable<{ type: string }>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== "test:fail") continue;
    const { name, file, line, details } = (event as FailEvent).data;
    // A suite fails when one of its tests does; the test's own entry already says why.
    if ((details.error as { failureType?: string })?.failureType === "subtestsFailed") continue;
    const cause = thrown(details.error);
    const where = file ? ` (${file}${line ? `:${line}` : ""})` : "";
    // Frames inside node itself say nothing about the failure.
    const text = inspect(cause, { depth: 4, breakLength: 120 })
      .split("\n")
      .filter((l) => !/^\s*at (?:(?:.*\()?node:|new Promise|Array\.map)[^{]*$/.test(l))
      .join("\n");
    yield `✖ ${name}${where}\n${text.replace(/^/gm, "    ")}\n\n`;
  }
}
