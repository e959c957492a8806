/**
 * A Temporal cluster that checks who calls it, as Temporal Cloud does: TLS on the frontend with a
 * server certificate for 127.0.0.1 and localhost from a CA of our own, and either client
 * certificates from that CA (mtls) or bearer tokens (api-key): JWTs signed with an RSA key whose
 * public half the frontend fetches as a JSON Web Key Set, mapped to permissions by the server's
 * default claim mapper and checked by its default authorizer. Here are the credentials, the
 * server configuration for either mode, and the connection options of the harness's own calls.
 *
 * The certificates come from the system's openssl: node:crypto reads X.509 certificates but
 * cannot issue them. The signing key and the tokens come from node:crypto.
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TLSConfig } from "@temporalio/client";
import type { ManagedProcess, Supervisor } from "./process.ts";
import { waitFor } from "./process.ts";
import type { ServicePorts } from "./temporal-cluster.ts";

export type ClusterSecurity = "mtls" | "api-key";

/** The bearer tokens of an api-key cluster (each a signed JWT, valid for a day). */
export interface ClusterTokens {
  /** Write permission on the cluster's namespace: what a worker's API key carries. */
  namespace: string;
  /** Admin permission on another namespace only: a valid token that must get nothing here. */
  otherNamespace: string;
  /** Admin permission on the whole cluster (registering namespaces, search attributes). */
  system: string;
}

/** Files (PEM) and tokens; every certificate but the stranger's is signed by the cluster's CA. */
export interface ClusterCredentials {
  security: ClusterSecurity;
  caFile: string;
  /** The name in the server's certificate, which clients connecting to 127.0.0.1 check. */
  serverName: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** The operator's client certificate. */
  clientCertFile: string;
  clientKeyFile: string;
  /** The cluster's worker service's certificate, also used by the harness's own calls. */
  systemCertFile: string;
  systemKeyFile: string;
  /** A client certificate from another CA, which an mtls frontend must refuse. */
  strangerCertFile: string;
  strangerKeyFile: string;
  /** api-key only. */
  tokens?: ClusterTokens;
  /** api-key only: the public signing key as a key set, for the frontend to fetch. */
  jwksFile?: string;
}

/** How a client proves itself to the frontend: nothing (no security), TLS, and maybe a token. */
export interface FrontendAccess {
  tls?: TLSConfig;
  apiKey?: string;
}

/** What the server configuration needs beyond the credentials. */
export interface ServerSecurity {
  credentials: ClusterCredentials;
  /** api-key: where the frontend fetches the key set (at start, then every minute). */
  jwksUrl?: string;
  /**
   * api-key: the internal frontend's ports. With authorization on, the frontend refuses the
   * worker service's calls (they carry no token); the cluster's own services call the internal
   * frontend instead, which grants them system rights and listens on loopback only.
   */
  internalFrontend?: ServicePorts;
}

const loopback = "127.0.0.1";
const serverName = "localhost";
/** The permission scope the default claim mapper reads as the whole cluster. */
const systemScope = "temporal-system";
const tokenLifetimeSeconds = 24 * 3600;
const certificateDays = "2";

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const error = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (error.code === "ENOENT") {
      throw new Error(
        "openssl is not on PATH: the TLS tests issue their certificates with it (Debian: apt-get install openssl)",
      );
    }
    throw new Error(`openssl ${args[0]} failed: ${error.stderr?.toString().trim() || error.message}`);
  }
}

interface Issued {
  certFile: string;
  keyFile: string;
}

const caExtensions = {
  basicConstraints: "critical, CA:TRUE",
  keyUsage: "critical, keyCertSign, cRLSign",
  subjectKeyIdentifier: "hash",
};

function leafExtensions(usage: "serverAuth" | "clientAuth"): Record<string, string> {
  return {
    basicConstraints: "critical, CA:FALSE",
    keyUsage: "critical, digitalSignature",
    extendedKeyUsage: usage,
    authorityKeyIdentifier: "keyid",
    ...(usage === "serverAuth" ? { subjectAltName: `DNS:${serverName}, IP:${loopback}` } : {}),
  };
}

/** A P-256 key and its certificate, self-signed (a CA) or signed by `issuer`. */
function issue(
  dir: string,
  name: string,
  commonName: string,
  extensions: Record<string, string>,
  issuer?: Issued,
): Issued {
  const config = join(dir, `${name}.cnf`);
  writeFileSync(
    config,
    [
      "[req]",
      "distinguished_name = dn",
      "prompt = no",
      "[dn]",
      `CN = ${commonName}`,
      "[ext]",
      ...Object.entries(extensions).map(([key, value]) => `${key} = ${value}`),
      "",
    ].join("\n"),
  );
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc", "-keyout", keyFile];
  if (!issuer) {
    openssl(
      [
        "req",
        "-x509",
        ...newKey,
        "-config",
        config,
        "-extensions",
        "ext",
        "-days",
        certificateDays,
        "-out",
        certFile,
      ],
      dir,
    );
    return { certFile, keyFile };
  }
  const request = join(dir, `${name}.csr`);
  openssl(["req", "-new", ...newKey, "-config", config, "-out", request], dir);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      request,
      "-CA",
      issuer.certFile,
      "-CAkey",
      issuer.keyFile,
      "-set_serial",
      `0x${randomBytes(8).toString("hex")}`,
      "-days",
      certificateDays,
      "-extfile",
      config,
      "-extensions",
      "ext",
      "-out",
      certFile,
    ],
    dir,
  );
  return { certFile, keyFile };
}

/** A compact JWS (RS256) of `claims`, as an identity provider issues an access token. */
function signToken(key: KeyObject, keyId: string, claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signed = `${encode({ alg: "RS256", typ: "JWT", kid: keyId })}.${encode(claims)}`;
  return `${signed}.${sign("sha256", Buffer.from(signed), key).toString("base64url")}`;
}

/** Writes the key set to `<dir>/jwks.json` and returns the tokens signed with its key. */
function createTokens(dir: string, namespace: string): { tokens: ClusterTokens; jwksFile: string } {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyId = `test-${randomBytes(4).toString("hex")}`;
  const jwksFile = join(dir, "jwks.json");
  writeFileSync(
    jwksFile,
    JSON.stringify({
      keys: [{ ...publicKey.export({ format: "jwk" }), kid: keyId, alg: "RS256", use: "sig" }],
    }),
  );
  const now = Math.floor(Date.now() / 1000);
  const token = (subject: string, permissions: string[]) =>
    signToken(privateKey, keyId, {
      sub: subject,
      permissions,
      iat: now,
      exp: now + tokenLifetimeSeconds,
    });
  return {
    jwksFile,
    tokens: {
      namespace: token("durable-canary", [`${namespace}:write`]),
      otherNamespace: token("someone-else", [`not-${namespace}:admin`]),
      system: token("cluster-admin", [`${systemScope}:admin`]),
    },
  };
}

/** Issues everything a cluster of `security` and its clients need, into `dir`. */
export function createClusterCredentials(
  dir: string,
  security: ClusterSecurity,
  namespace: string,
): ClusterCredentials {
  mkdirSync(dir, { recursive: true });
  const ca = issue(dir, "ca", "durable-canary test CA", caExtensions);
  const server = issue(dir, "server", serverName, leafExtensions("serverAuth"), ca);
  const client = issue(dir, "client", "durable-canary", leafExtensions("clientAuth"), ca);
  const system = issue(dir, "system-worker", "temporal-system-worker", leafExtensions("clientAuth"), ca);
  const strangerCa = issue(dir, "stranger-ca", "another CA", caExtensions);
  const stranger = issue(dir, "stranger", "durable-canary", leafExtensions("clientAuth"), strangerCa);
  return {
    security,
    caFile: ca.certFile,
    serverName,
    serverCertFile: server.certFile,
    serverKeyFile: server.keyFile,
    clientCertFile: client.certFile,
    clientKeyFile: client.keyFile,
    systemCertFile: system.certFile,
    systemKeyFile: system.keyFile,
    strangerCertFile: stranger.certFile,
    strangerKeyFile: stranger.keyFile,
    ...(security === "api-key" ? createTokens(dir, namespace) : {}),
  };
}

/** Serves the key set over HTTP on loopback, supervised; resolves with its URL once it listens. */
export async function startJwksServer(
  sup: Supervisor,
  name: string,
  jwksFile: string,
): Promise<{ url: string; process: ManagedProcess }> {
  const proc = sup.start({
    name,
    command: process.execPath,
    args: [join(import.meta.dirname, "serve-jwks.ts"), jwksFile],
  });
  const url = await waitFor(
    "the key set server",
    async () => [...readFileSync(proc.logFile, "utf8").matchAll(/^serving (\S+)$/gm)].at(-1)?.[1],
    { timeoutMs: 30_000, intervalMs: 50, process: proc },
  );
  return { url, process: proc };
}

/** The server configuration `config` with the frontend secured as `security` says. */
export function securedServerConfig(
  config: Record<string, unknown>,
  security: ServerSecurity,
): Record<string, unknown> {
  const c = security.credentials;
  const global = config.global as Record<string, unknown>;
  const frontendClient = { serverName: c.serverName, rootCaFiles: [c.caFile] };
  const serverCertificate = { certFile: c.serverCertFile, keyFile: c.serverKeyFile };
  if (c.security === "mtls") {
    const tls = {
      frontend: {
        server: { ...serverCertificate, requireClientAuth: true, clientCaFiles: [c.caFile] },
        client: frontendClient,
      },
      // The worker service calls the frontend (publicClient) with a certificate of its own.
      systemWorker: { certFile: c.systemCertFile, keyFile: c.systemKeyFile, client: frontendClient },
    };
    return { ...config, global: { ...global, tls } };
  }
  const { jwksUrl, internalFrontend } = security;
  if (!jwksUrl || !internalFrontend) {
    throw new Error("an api-key cluster needs the key set's URL and the internal frontend's ports");
  }
  // The services find the internal frontend by membership; the server refuses a publicClient then.
  const { publicClient: _, ...withoutPublicClient } = config;
  return {
    ...withoutPublicClient,
    global: {
      ...global,
      tls: { frontend: { server: serverCertificate, client: frontendClient } },
      authorization: {
        jwtKeyProvider: { keySourceURIs: [jwksUrl], refreshInterval: "1m" },
        permissionsClaimName: "permissions",
        authorizer: "default",
        claimMapper: "default",
      },
    },
    services: {
      ...(config.services as Record<string, unknown>),
      "internal-frontend": {
        rpc: {
          grpcPort: internalFrontend.grpc,
          membershipPort: internalFrontend.membership,
          bindOnIP: loopback,
        },
      },
    },
  };
}

/** Trusts the cluster's CA and checks its server name: what every client of the frontend needs. */
export function serverTls(c: ClusterCredentials): TLSConfig {
  return { serverNameOverride: c.serverName, serverRootCACertificate: readFileSync(c.caFile) };
}

/**
 * How the harness's own calls (health, namespace registration, probes) reach the frontend: with
 * the system worker's certificate (mtls) or the cluster-wide admin token (api-key).
 */
export function adminAccess(c: ClusterCredentials): FrontendAccess {
  if (c.security === "mtls") {
    const clientCertPair = { crt: readFileSync(c.systemCertFile), key: readFileSync(c.systemKeyFile) };
    return { tls: { ...serverTls(c), clientCertPair } };
  }
  if (!c.tokens) throw new Error("an api-key cluster has tokens");
  return { tls: serverTls(c), apiKey: c.tokens.system };
}

/**
 * The UI server's connection to the frontend (its `tls` settings). With api-key the UI server
 * has no token of its own: it passes on the Authorization header of the browser's requests.
 */
export function uiServerTls(c: ClusterCredentials): Record<string, unknown> {
  return {
    caFile: c.caFile,
    serverName: c.serverName,
    enableHostVerification: true,
    ...(c.security === "mtls" ? { certFile: c.systemCertFile, keyFile: c.systemKeyFile } : {}),
  };
}
