import assert from "node:assert/strict";
import { connect, createServer, type LookupFunction } from "node:net";
import { describe, test } from "node:test";
import {
  checkAddress,
  checkLiteral,
  checkResolved,
  DestinationError,
  denyLocalLookup,
  localKind,
} from "../../src/net/destination.ts";

/** What the lookup hands back, in both of the forms net asks for. */
function lookUp(hostname: string, all: boolean): Promise<unknown> {
  return new Promise((resolve, reject) =>
    (denyLocalLookup as LookupFunction)(hostname, { all }, (error, address, family) =>
      error ? reject(error) : resolve(all ? address : { address, family }),
    ),
  );
}

describe("local destinations", () => {
  test("loopback, unspecified, link-local and metadata addresses, IPv4-mapped forms included", () => {
    for (const [ip, kind] of [
      ["127.0.0.1", "loopback"],
      ["127.255.0.9", "loopback"],
      ["::1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["0.0.0.0", "unspecified"],
      ["::", "unspecified"],
      ["169.254.169.254", "link-local"],
      ["::ffff:169.254.169.254", "link-local"],
      ["fe80::1", "link-local"],
      ["febf::1", "link-local"],
      ["fd00:ec2::254", "cloud metadata"],
    ] as const) {
      assert.equal(localKind(ip), kind, ip);
    }
  });

  test("other addresses, private ones included, are not local", () => {
    for (const ip of [
      "10.0.0.1",
      "192.168.1.1",
      "172.16.0.1",
      "8.8.8.8",
      "fec0::1",
      "2001:db8::1",
      "128.0.0.1",
    ]) {
      assert.equal(localKind(ip), undefined, ip);
    }
  });

  test("a denied literal is refused with the option's name; names are left to the lookup", () => {
    assert.throws(
      () => checkLiteral("[::1]"),
      (error: unknown) =>
        error instanceof DestinationError &&
        error.kind === "denied" &&
        error.message ===
          "::1 is a loopback address, and this operator denies loopback and link-local destinations (--deny-local-destinations)",
    );
    assert.throws(() => checkLiteral("169.254.169.254"), /169\.254\.169\.254 is a link-local address/);
    checkLiteral("localhost");
    checkLiteral("10.1.2.3");
  });

  test("a name is resolved and refused if it resolves to a local address", async () => {
    await assert.rejects(
      checkResolved("localhost"),
      /^DestinationError: localhost resolves to (127\.0\.0\.1|::1), a loopback address/,
    );
    await checkResolved("no-such-host.invalid");
  });
});

describe("the connect-time lookup", () => {
  test("hands back allowed addresses in the form asked for", async () => {
    assert.deepEqual(await lookUp("192.0.2.10", false), { address: "192.0.2.10", family: 4 });
    assert.deepEqual(await lookUp("2001:db8::5", true), [{ address: "2001:db8::5", family: 6 }]);
  });

  test("refuses a name resolving to a local address, and the socket never connects", async () => {
    await assert.rejects(lookUp("localhost", true), /^DestinationError: localhost resolves to/);
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    try {
      const error = await new Promise<Error>((resolve) => {
        const socket = connect({ host: "localhost", port, lookup: denyLocalLookup });
        socket.on("error", resolve);
        socket.on("connect", () => resolve(new Error("connected")));
      });
      assert.ok(error instanceof DestinationError, String(error));
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });
});

describe("checkAddress", () => {
  test("accepts absolute http(s) URLs", () => {
    assert.equal(checkAddress("https://hooks.slack.com/services/x", "here").hostname, "hooks.slack.com");
    assert.equal(checkAddress("http://prometheus.monitoring:9090", "here").port, "9090");
  });

  test("refuses anything else, naming the source and redacting the address", () => {
    for (const address of ["prometheus:9090", "ftp://files.test/x", "/relative", "", "file:///etc/passwd"]) {
      assert.throws(
        () => checkAddress(address, "the address key of Secret ops/slack"),
        (error: unknown) =>
          error instanceof DestinationError &&
          error.kind === "invalid" &&
          error.message.startsWith("the address key of Secret ops/slack ") &&
          error.message.endsWith('is not an absolute http(s) URL such as "https://host:port/path"'),
        address,
      );
    }
    assert.throws(
      () => checkAddress("ftp://user:hunter2@files.test/x?token=t0k", 'the url of webhook "a"'),
      (error: unknown) =>
        error instanceof Error &&
        error.message ===
          'the url of webhook "a" "ftp://***@files.test/x?***" is not an absolute http(s) URL such as "https://host:port/path"',
    );
    assert.throws(
      () => checkAddress("hooks.slack.com/services/T0/B0/s3cret", "the address key of Secret ops/slack"),
      (error: unknown) =>
        error instanceof Error &&
        error.message ===
          'the address key of Secret ops/slack "hooks.slack.com/services/***" is not an absolute http(s) URL such as "https://host:port/path"',
    );
  });
});
