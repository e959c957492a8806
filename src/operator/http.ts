/**
 * The operator's one HTTP port: /healthz (the process serves), /readyz (each check named, 503
 * while one fails, so `curl` says why) and /metrics (Prometheus text format).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export type ReadinessCheck = () => { readonly ok: boolean; readonly detail: string };

export interface OperatorHttpOptions {
  /** "host:port", ":port" (all interfaces) or "port". */
  readonly listen: string;
  readonly registry: Registry;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

export function parseListen(listen: string): { host: string | undefined; port: number } {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(listen.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new Error(`--listen must be host:port, :port or port, such as ":8080" (got "${listen}")`);
  }
  const host = match[1]?.replace(/^\[(.*)\]$/, "$1");
  return { host: host === "" ? undefined : host, port };
}

export async function startOperatorHttp(
  options: OperatorHttpOptions,
): Promise<{ server: Server; url: string }> {
  const { host, port } = parseListen(options.listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const results = Object.entries(options.checks).map(([name, check]) => ({ name, ...check() }));
      const ok = results.every((r) => r.ok);
      const body = results.map((r) => `[${r.ok ? "+" : "-"}]${r.name}: ${r.detail}`).join("\n");
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(`${body}\n`);
      return;
    }
    if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": options.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    res
      .writeHead(404, { "content-type": "text/plain" })
      .end("not found: try /healthz, /readyz or /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return { server, url: `http://${shown}:${address.port}` };
}
