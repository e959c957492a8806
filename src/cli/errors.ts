/**
 * Errors the command line reports as one line: its own (CliError) and the Temporal client's,
 * said in the user's terms (canary, namespace, server) instead of gRPC's.
 */

/** An error whose message is already what the user should read. */
export class CliError extends Error {}

/** gRPC status codes the client's ServiceError carries. */
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

/** The innermost gRPC code of a Temporal client error, if it has one. */
function grpcCode(err: unknown): number | undefined {
  for (let e = err; e && typeof e === "object"; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "number") return code;
  }
  return undefined;
}

/** One line for any error, with the Temporal address for connection problems. */
export function describeError(err: unknown, temporalAddress?: string): string {
  if (err instanceof CliError) return err.message;
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : String(err);
  const where = temporalAddress ? ` at ${temporalAddress}` : "";
  if (name === "NamespaceNotFoundError") {
    return `${message}: set TEMPORAL_NAMESPACE (or the profile's namespace) to the operator's Temporal namespace`;
  }
  switch (grpcCode(err)) {
    case UNAVAILABLE:
      return `cannot reach Temporal${where}: ${firstLine(message)}`;
    case DEADLINE_EXCEEDED:
      return `Temporal${where} did not answer in time: is the durable-canary worker running?`;
    case PERMISSION_DENIED:
    case UNAUTHENTICATED:
      return (
        `Temporal${where} refused the request: ${reasons(err).join(": ")} ` +
        "(check the API key or client certificate, and its permission on the namespace)"
      );
  }
  return firstLine(message);
}

/** The first line of each message down the cause chain, without repeats: the server's own reason is last. */
function reasons(err: unknown): string[] {
  const lines: string[] = [];
  for (let e = err; e && typeof e === "object"; e = (e as { cause?: unknown }).cause) {
    const line = e instanceof Error ? firstLine(e.message) : "";
    if (line && !lines.includes(line)) lines.push(line);
  }
  return lines;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
