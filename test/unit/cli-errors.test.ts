import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError } from "../../src/cli/errors.ts";

/** The shape the Temporal client throws: its own message, the gRPC error (with the server's words) as cause. */
function clientError(message: string, code: number, serverMessage: string): Error {
  const grpc = Object.assign(new Error(`${code} PERMISSION_DENIED: ${serverMessage}`), { code });
  return new Error(message, { cause: grpc });
}

describe("describeError", () => {
  it("keeps the server's reason for a refused request, and says what to check", () => {
    const line = describeError(clientError("Failed to list workflows", 7, "Request unauthorized."), "t:7233");
    assert.equal(
      line,
      "Temporal at t:7233 refused the request: Failed to list workflows: 7 PERMISSION_DENIED: " +
        "Request unauthorized. (check the API key or client certificate, and its permission on the namespace)",
    );
  });

  it("names the address when the server cannot be reached", () => {
    const err = Object.assign(new Error("Failed to connect before the deadline"), { code: 14 });
    assert.equal(
      describeError(err, "t:7233"),
      "cannot reach Temporal at t:7233: Failed to connect before the deadline",
    );
  });
});
