import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadTemporalSettings, type TemporalSettings } from "../../src/temporal/connection.ts";

const dir = mkdtempSync(join(tmpdir(), "temporal-connection-"));
// Never the developer's own ~/.config/temporalio/temporal.toml.
const noConfigFile = { TEMPORAL_CONFIG_FILE: join(dir, "absent.toml") };

function load(env: Record<string, string>): TemporalSettings {
  return loadTemporalSettings({ ...noConfigFile, ...env });
}

/** Without TEMPORAL_ADDRESS, where no config file is named (naming one asks for a remote server). */
function embedded(env: Record<string, string>): TemporalSettings {
  return loadTemporalSettings(env);
}

function remote(env: Record<string, string>) {
  const settings = load(env);
  assert.equal(settings.mode, "remote");
  return settings;
}

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe("Temporal connection settings", () => {
  it("embeds a server on 127.0.0.1:7233 with the UI on 8233 when no address is set", () => {
    assert.deepEqual(embedded({ TEMPORAL_CLI: "/opt/temporal" }), {
      mode: "embedded",
      ip: "127.0.0.1",
      port: 7233,
      uiPort: 8233,
      namespace: "default",
    });
  });

  it("moves the embedded ports when told to", () => {
    const settings = embedded({ DURABLE_CANARY_TEMPORAL_PORT: "17233" });
    assert.equal(settings.mode, "embedded");
    assert.deepEqual([settings.port, settings.uiPort], [17233, 18233]);
    const ui = embedded({ DURABLE_CANARY_TEMPORAL_UI_PORT: "9000" });
    assert.equal(ui.mode === "embedded" && ui.uiPort, 9000);
    assert.throws(
      () => embedded({ DURABLE_CANARY_TEMPORAL_PORT: "seventy" }),
      /DURABLE_CANARY_TEMPORAL_PORT=seventy is not a port/,
    );
  });

  it("refuses to embed a server while connection variables without TEMPORAL_ADDRESS are set", () => {
    assert.throws(
      () => embedded({ TEMPORAL_NAMESPACE: "prod.a1b2c" }),
      /^Error: TEMPORAL_NAMESPACE is set but TEMPORAL_ADDRESS is not.*Set TEMPORAL_ADDRESS .*or unset it to use the embedded server/,
    );
    assert.throws(
      () =>
        embedded({
          TEMPORAL_API_KEY: "k",
          TEMPORAL_TLS_CLIENT_CERT_PATH: "/c.pem",
          TEMPORAL_GRPC_META_X_TENANT: "blue",
          TEMPORAL_TLS: "true",
          TEMPORAL_CONFIG_FILE: join(dir, "temporal.toml"),
          TEMPORAL_CLI: "/opt/temporal",
        }),
      new RegExp(
        "^Error: TEMPORAL_API_KEY, TEMPORAL_CONFIG_FILE, TEMPORAL_GRPC_META_X_TENANT, TEMPORAL_TLS, " +
          "TEMPORAL_TLS_CLIENT_CERT_PATH are set but TEMPORAL_ADDRESS is not",
      ),
    );
    assert.equal(embedded({ TEMPORAL_NAMESPACE: "" }).mode, "embedded", "an empty variable is unset");
    assert.equal(load({ TEMPORAL_NAMESPACE: "n", TEMPORAL_ADDRESS: "t:7233" }).mode, "remote");
  });

  it("connects in plain text to TEMPORAL_ADDRESS, namespace default", () => {
    assert.deepEqual(remote({ TEMPORAL_ADDRESS: "temporal.example:7233" }), {
      mode: "remote",
      namespace: "default",
      connection: { address: "temporal.example:7233" },
    });
  });

  it("turns TLS on for an API key (Temporal Cloud)", () => {
    const settings = remote({
      TEMPORAL_ADDRESS: "eu-west-1.aws.api.temporal.io:7233",
      TEMPORAL_NAMESPACE: "prod.a1b2c",
      TEMPORAL_API_KEY: "secret",
    });
    assert.equal(settings.namespace, "prod.a1b2c");
    assert.deepEqual(settings.connection, {
      address: "eu-west-1.aws.api.temporal.io:7233",
      apiKey: "secret",
      tls: true,
    });
  });

  it("lets TEMPORAL_TLS=false turn TLS off even with an API key", () => {
    const settings = remote({ TEMPORAL_ADDRESS: "t:7233", TEMPORAL_API_KEY: "k", TEMPORAL_TLS: "false" });
    assert.equal(settings.connection.tls, false);
  });

  it("reads the mTLS certificate, key, CA and server name from their files", () => {
    const settings = remote({
      TEMPORAL_ADDRESS: "prod.a1b2c.tmprl.cloud:7233",
      TEMPORAL_TLS_CLIENT_CERT_PATH: file("client.pem", "CERT"),
      TEMPORAL_TLS_CLIENT_KEY_PATH: file("client.key", "KEY"),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: file("ca.pem", "CA"),
      TEMPORAL_TLS_SERVER_NAME: "temporal.internal",
    });
    const tls = settings.connection.tls;
    assert.ok(tls && typeof tls === "object");
    assert.equal(Buffer.from(tls.clientCertPair?.crt ?? []).toString(), "CERT");
    assert.equal(Buffer.from(tls.clientCertPair?.key ?? []).toString(), "KEY");
    assert.equal(Buffer.from(tls.serverRootCACertificate ?? []).toString(), "CA");
    assert.equal(tls.serverNameOverride, "temporal.internal");
  });

  it("turns TLS on with the system roots for TEMPORAL_TLS=true", () => {
    const tls = remote({ TEMPORAL_ADDRESS: "t:7233", TEMPORAL_TLS: "true" }).connection.tls;
    assert.ok(tls && typeof tls === "object");
    assert.equal(tls.clientCertPair, undefined);
    assert.equal(tls.serverRootCACertificate, undefined);
  });

  it("rejects a client certificate without its key", () => {
    assert.throws(
      () => load({ TEMPORAL_ADDRESS: "t:7233", TEMPORAL_TLS_CLIENT_CERT_PATH: file("only.pem", "CERT") }),
      /TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/,
    );
  });

  it("names a missing certificate file", () => {
    assert.throws(
      () =>
        load({
          TEMPORAL_ADDRESS: "t:7233",
          TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, "missing.pem"),
          TEMPORAL_TLS_CLIENT_KEY_PATH: join(dir, "missing.key"),
        }),
      /cannot load the Temporal TLS files: .*missing\.pem/,
    );
  });

  it("rejects TEMPORAL_TLS_DISABLE_HOST_VERIFICATION rather than ignore it", () => {
    assert.throws(
      () => load({ TEMPORAL_ADDRESS: "t:7233", TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: "true" }),
      /TEMPORAL_TLS_SERVER_NAME/,
    );
  });

  it("sends TEMPORAL_GRPC_META_* as gRPC metadata", () => {
    const settings = remote({ TEMPORAL_ADDRESS: "t:7233", TEMPORAL_GRPC_META_X_TENANT: "blue" });
    assert.deepEqual(settings.connection.metadata, { "x-tenant": "blue" });
  });

  it("uses a profile of the Temporal CLI's config file, with the environment overriding it", () => {
    const config = file(
      "temporal.toml",
      [
        "[profile.staging]",
        'address = "staging.example:7233"',
        'namespace = "canaries"',
        'api_key = "from-file"',
      ].join("\n"),
    );
    const fromFile = remote({ TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: "staging" });
    assert.deepEqual(fromFile, {
      mode: "remote",
      namespace: "canaries",
      connection: { address: "staging.example:7233", apiKey: "from-file", tls: true },
    });
    const overridden = remote({
      TEMPORAL_CONFIG_FILE: config,
      TEMPORAL_PROFILE: "staging",
      TEMPORAL_ADDRESS: "o:7233",
    });
    assert.equal(overridden.connection.address, "o:7233");
    assert.throws(
      () => load({ TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: "nope" }),
      /Profile 'nope' not found/,
    );
  });
});
