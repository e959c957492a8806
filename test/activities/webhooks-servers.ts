/**
 * Local HTTP servers the analysis activity tests talk to: a receiver that records requests and
 * answers as the test says (webhooks, alert hooks, fake metric APIs), a TLS variant with a
 * self-signed certificate, a forward proxy (absolute-form requests and CONNECT tunnels), and a
 * reverse proxy that demands credentials.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A self-signed certificate for 127.0.0.1, valid 2000-2099, used only by these tests' TLS server:
 * clients must be told to skip verification to talk to it.
 */
const TEST_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgttGPxkEZcaaRg9y7
1AqzzgcfAcfoHUvEfit1yYWF8EOhRANCAATKSYFasa+0zmRvBcQ9dFpqsGK/dfb5
LECcDmVL7fap/VgfdkkJbflL5ehmnV+1lcymA/ZVDYN00lwzB2UTq3e9
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBpzCCAU6gAwIBAgIBATAKBggqhkjOPQQDAjAlMSMwIQYDVQQDDBpkdXJhYmxl
LWNhbmFyeSB0ZXN0IHNlcnZlcjAgFw0wMDAxMDEwMDAwMDBaGA8yMDk5MTIzMTIz
NTk1OVowJTEjMCEGA1UEAwwaZHVyYWJsZS1jYW5hcnkgdGVzdCBzZXJ2ZXIwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAATKSYFasa+0zmRvBcQ9dFpqsGK/dfb5LECc
DmVL7fap/VgfdkkJbflL5ehmnV+1lcymA/ZVDYN00lwzB2UTq3e9o20wazAMBgNV
HRMBAf8EAjAAMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDALBgNVHQ8EBAMC
B4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYDVR0OBBYEFBK/4MBQ1smrgV3neYgm
vdg7wC4iMAoGCCqGSM49BAMCA0cAMEQCIBREkx3XYQt2tEYBGf3CKIUfFqqq/MJj
t5HofyL+C6LzAiBDx0XQhm46bF/xRpCiNLSCAd0vaOPux8jWh6piOyu2KA==
-----END CERTIFICATE-----
`,
};

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

export interface Answer {
  readonly status?: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Waits this long before answering (a slow endpoint). */
  readonly delayMs?: number;
}

export type Responder = (request: Recorded, index: number) => Answer | Promise<Answer>;

export interface Receiver {
  readonly url: string;
  readonly requests: Recorded[];
  respond(responder: Responder): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function listen(server: Server, host = "127.0.0.1"): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Records every request and answers with the current responder (200 "ok" by default). It listens
 * on 127.0.0.1, or on `host` (an IPv4 address of this machine).
 */
export async function startReceiver(options: { tls?: boolean; host?: string } = {}): Promise<Receiver> {
  const requests: Recorded[] = [];
  let responder: Responder = () => ({ status: 200, body: "ok" });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const recorded: Recorded = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: await readBody(req),
    };
    requests.push(recorded);
    const answer = await responder(recorded, requests.length - 1);
    if (answer.delayMs) {
      // A client that gave up must not leave a timer keeping the test process alive.
      const gone = new AbortController();
      res.on("close", () => gone.abort());
      await sleep(answer.delayMs, undefined, { signal: gone.signal }).catch(() => undefined);
    }
    if (res.destroyed) return;
    res.writeHead(answer.status ?? 200, { "content-type": "text/plain", ...answer.headers });
    res.end(answer.body ?? "");
  };
  const server = options.tls ? createHttpsServer(TEST_TLS, handle) : createHttpServer(handle);
  const host = options.host ?? "127.0.0.1";
  const port = await listen(server, host);
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${port}`,
    requests,
    respond(next) {
      responder = next;
    },
    close: () => shut(server),
  };
}

/** Forwards one request to `upstream` (origin + path) and pipes the answer back. */
function forward(req: IncomingMessage, res: ServerResponse, upstream: URL, body: string): void {
  const { "proxy-connection": _hop, ...headers } = { ...req.headers, host: upstream.host } as Record<
    string,
    unknown
  >;
  const out = request(
    upstream,
    { method: req.method, headers: headers as IncomingMessage["headers"] },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.on("error", (error) => res.writeHead(502).end(error.message));
  out.end(body);
}

export interface ProxyServer {
  readonly url: string;
  /** Absolute URLs of the requests it forwarded. */
  readonly forwarded: string[];
  close(): Promise<void>;
}

export interface ForwardProxy extends ProxyServer {
  /** host:port of the CONNECT tunnels it opened (https through the proxy). */
  readonly tunnels: string[];
}

/**
 * A plain HTTP forward proxy (absolute-form requests and CONNECT tunnels), as a corporate egress
 * proxy would be. With `connectTo`, it reaches every destination at that IP, keeping the port: a
 * proxy's own view of names, so tests can use host names that only the proxy knows.
 */
export async function startForwardProxy(options: { connectTo?: string } = {}): Promise<ForwardProxy> {
  const forwarded: string[] = [];
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer(async (req, res) => {
    const body = await readBody(req);
    const target = req.url ?? "";
    if (!URL.canParse(target)) {
      res.writeHead(400).end("absolute-form request expected");
      return;
    }
    forwarded.push(target);
    const upstream = new URL(target);
    if (options.connectTo !== undefined) upstream.hostname = options.connectTo;
    forward(req, res, upstream, body);
  });
  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? "";
    tunnels.push(target);
    const [host = "", port = "443"] = target.split(/:(?=\d+$)/);
    const upstream = connect(Number(port), options.connectTo ?? host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on("close", () => sockets.delete(socket));
    }
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    forwarded,
    tunnels,
    async close() {
      for (const socket of sockets) socket.destroy();
      await shut(server);
    },
  };
}

/**
 * A reverse proxy in front of `upstream` that answers 401 unless the Authorization header is
 * exactly `authorization`, the way an authenticating gateway in front of Prometheus does.
 */
export async function startAuthProxy(
  upstream: string,
  authorization: string,
  options: { tls?: boolean } = {},
): Promise<ProxyServer> {
  const forwarded: string[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (req.headers.authorization !== authorization) {
      res.writeHead(401, { "content-type": "text/plain" }).end("unauthorized: missing or wrong credentials");
      return;
    }
    const target = new URL(req.url ?? "/", upstream);
    forwarded.push(target.toString());
    forward(req, res, target, body);
  };
  const server = options.tls ? createHttpsServer(TEST_TLS, handle) : createHttpServer(handle);
  const port = await listen(server);
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    forwarded,
    close: () => shut(server),
  };
}
