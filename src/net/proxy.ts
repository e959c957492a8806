/**
 * The proxy for a request from HTTP_PROXY, HTTPS_PROXY and NO_PROXY, read the way Go programs read
 * them (Go's net/http ProxyFromEnvironment), so an operator migrating from Flagger behind an egress
 * proxy needs no new settings:
 * - the upper-case variable wins over the lower-case one; an empty value counts as unset;
 * - https URLs use HTTPS_PROXY only and http URLs HTTP_PROXY only (no fallback between them);
 * - a proxy without a scheme is http://;
 * - `localhost` and loopback IP literals are never proxied;
 * - NO_PROXY is a comma-separated list of `*` (nothing is proxied), IPs and CIDR ranges (matched
 *   against IP literal hosts, not against what a name resolves to), and domains: `example.com`
 *   matches it and its subdomains, `.example.com` and `*.example.com` its subdomains only; any
 *   entry may end in `:port` to match that port only.
 * The variables are read for every request, so a change needs no restart. Unlike Go, SOCKS5
 * proxies are refused (not supported yet) rather than used.
 */
import { BlockList, isIP } from "node:net";
import { domainToASCII } from "node:url";
import { DestinationError } from "./destination.ts";

export interface ProxyEnvironment {
  readonly httpProxy: string | undefined;
  readonly httpsProxy: string | undefined;
  readonly noProxy: string | undefined;
}

export function proxyEnvironment(env: NodeJS.ProcessEnv = process.env): ProxyEnvironment {
  return {
    httpProxy: env.HTTP_PROXY || env.http_proxy || undefined,
    httpsProxy: env.HTTPS_PROXY || env.https_proxy || undefined,
    noProxy: env.NO_PROXY || env.no_proxy || undefined,
  };
}

const PROXY_SCHEMES = new Set(["http:", "https:"]);

/** The proxy URL for a request to `url`, or undefined to connect directly. */
export function proxyFor(url: URL, env: ProxyEnvironment = proxyEnvironment()): string | undefined {
  const [variable, value] =
    url.protocol === "https:" ? ["HTTPS_PROXY", env.httpsProxy] : ["HTTP_PROXY", env.httpProxy];
  if (value === undefined) return undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (host === "localhost" || (isIP(host) !== 0 && loopback.check(host, family(host)))) return undefined;
  if (noProxyRules(env.noProxy ?? "").some((rule) => rule(host, port))) return undefined;
  return parseProxy(variable, value);
}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

function family(ip: string): "ipv4" | "ipv6" {
  return isIP(ip) === 4 ? "ipv4" : "ipv6";
}

function parseProxy(variable: string, value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const url = URL.canParse(withScheme) ? new URL(withScheme) : undefined;
  if (url === undefined || !PROXY_SCHEMES.has(url.protocol) || url.hostname === "") {
    throw new DestinationError(
      "invalid",
      `the ${variable} environment variable is not a proxy URL (http:// or https://host:port)`,
    );
  }
  return url.toString();
}

/** Does the request to host:port bypass the proxy? */
type NoProxyRule = (host: string, port: string) => boolean;

function noProxyRules(value: string): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const raw of value.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return [() => true];
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr !== null && isIP(cidr[1] as string) !== 0) {
      const network = cidr[1] as string;
      const ranges = new BlockList();
      try {
        ranges.addSubnet(network, Number(cidr[2]), family(network));
      } catch {
        continue; // A prefix longer than the address: Go ignores the entry too.
      }
      rules.push((host) => isIP(host) !== 0 && ranges.check(host, family(host)));
      continue;
    }
    const [entryHost, entryPort] = splitHostPort(entry);
    if (entryHost === "") continue;
    if (isIP(entryHost) !== 0) {
      const same = new BlockList();
      same.addAddress(entryHost, family(entryHost));
      rules.push(
        (host, port) =>
          isIP(host) !== 0 && same.check(host, family(host)) && (entryPort === "" || entryPort === port),
      );
      continue;
    }
    const bare = entryHost.replace(/^\*?\./, "");
    const apex = !entryHost.startsWith(".") && !entryHost.startsWith("*.");
    const domain = domainToASCII(bare) || bare;
    rules.push(
      (host, port) =>
        (host.endsWith(`.${domain}`) || (apex && host === domain)) &&
        (entryPort === "" || entryPort === port),
    );
  }
  return rules;
}

/** "host:port", "[v6]:port" or a bare host (a bare IPv6 address has several colons). */
function splitHostPort(entry: string): [string, string] {
  const bracketed = /^\[(.*)\]:(\d*)$/.exec(entry);
  if (bracketed !== null) return [bracketed[1] as string, bracketed[2] as string];
  const single = /^([^:]*):(\d*)$/.exec(entry);
  if (single !== null) return [single[1] as string, single[2] as string];
  return [entry, ""];
}
