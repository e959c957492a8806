/**
 * Where the analysis activities may send requests. Every address is checked when it is used (an
 * address from a Secret or a MetricTemplate never passed the Canary's validation), and with the
 * operator's denyLocalDestinations option, loopback and link-local destinations are refused: a
 * Canary author must not reach the operator's own loopback services (the embedded Temporal
 * server's HTTP API) or the cloud metadata endpoint through a webhook, a metric or an alert.
 *
 * Names are checked at connect time on every address they resolve to (lookup hook below), so a
 * name that resolves to a public address when checked and to 127.0.0.1 when connected (DNS
 * rebinding) is refused too.
 */
import { type LookupAddress, lookup } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { KindedError } from "../kinded-error.ts";
import { redactUrl } from "./redact.ts";

export type DestinationErrorKind = "invalid" | "denied";

/** An address that is not a usable URL, or a destination the operator denies. */
export class DestinationError extends KindedError<DestinationErrorKind> {
  override name = "DestinationError";
}

/** The option's name, as messages cite it. */
export const DENY_LOCAL_OPTION = "--deny-local-destinations";

function blockList(entries: readonly (readonly [string, number, "ipv4" | "ipv6"])[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of entries) list.addSubnet(network, prefix, family);
  return list;
}

/** Denied ranges by the name messages give them. BlockList also matches IPv4-mapped IPv6 forms. */
const LOCAL_RANGES: readonly (readonly [string, BlockList])[] = [
  [
    "loopback",
    blockList([
      ["127.0.0.0", 8, "ipv4"],
      ["::1", 128, "ipv6"],
    ]),
  ],
  // Connecting to 0.0.0.0 or :: reaches the host's own listeners.
  [
    "unspecified",
    blockList([
      ["0.0.0.0", 8, "ipv4"],
      ["::", 128, "ipv6"],
    ]),
  ],
  // 169.254.169.254 is the metadata endpoint of AWS, GCP, Azure and most other clouds.
  [
    "link-local",
    blockList([
      ["169.254.0.0", 16, "ipv4"],
      ["fe80::", 10, "ipv6"],
    ]),
  ],
  // EC2's metadata endpoint over IPv6, the one not in a link-local range.
  ["cloud metadata", blockList([["fd00:ec2::254", 128, "ipv6"]])],
];

/** What kind of local address `ip` is ("loopback", "link-local", ...), or undefined if none. */
export function localKind(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 0) return undefined;
  return LOCAL_RANGES.find(([, list]) => list.check(ip, family === 4 ? "ipv4" : "ipv6"))?.[0];
}

function denied(host: string, ip: string, kind: string): DestinationError {
  const what = host === ip ? `${ip} is` : `${host} resolves to ${ip},`;
  return new DestinationError(
    "denied",
    `${what} a ${kind} address, and this operator denies loopback and link-local destinations (${DENY_LOCAL_OPTION})`,
  );
}

/** A URL's hostname as an IP literal (without IPv6 brackets), or undefined for a name. */
function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  return isIP(bare) === 0 ? undefined : bare;
}

/** Throws if `hostname` is a denied IP literal; names are left to the lookup hook. */
export function checkLiteral(hostname: string): void {
  const ip = ipLiteral(hostname);
  const kind = ip === undefined ? undefined : localKind(ip);
  if (ip !== undefined && kind !== undefined) throw denied(ip, ip, kind);
}

function firstDenied(host: string, addresses: readonly LookupAddress[]): DestinationError | undefined {
  for (const { address } of addresses) {
    const kind = localKind(address);
    if (kind !== undefined) return denied(host, address, kind);
  }
  return undefined;
}

/**
 * Resolves `hostname` now and throws if it is, or resolves to, a denied address. For requests
 * through a proxy, which resolves the name itself: the best check possible from here.
 */
export async function checkResolved(hostname: string): Promise<void> {
  checkLiteral(hostname);
  if (ipLiteral(hostname) !== undefined) return;
  const addresses = await new Promise<LookupAddress[]>((resolve) =>
    // A name that does not resolve here is left for the proxy to report.
    lookup(hostname, { all: true }, (error, found) => resolve(error ? [] : found)),
  );
  const refused = firstDenied(hostname, addresses);
  if (refused !== undefined) throw refused;
}

/**
 * A `lookup` for net/tls.connect that refuses a name if any address it resolves to is denied: the
 * addresses it hands back are the ones the socket connects to.
 */
export const denyLocalLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, "", 0);
      return;
    }
    const refused = firstDenied(hostname, addresses);
    if (refused !== undefined) {
      callback(refused, "", 0);
      return;
    }
    if (options.all) {
      // net's LookupFunction types only the single-address form of the callback.
      (callback as unknown as (error: null, all: LookupAddress[]) => void)(null, addresses);
      return;
    }
    const [first] = addresses as [LookupAddress];
    callback(null, first.address, first.family);
  });
};

/**
 * Checks an address at the moment of use: an absolute http(s) URL, or a DestinationError whose
 * message names `source` (where the address came from) and shows the address redacted.
 */
export function checkAddress(address: string, source: string): URL {
  const url = URL.canParse(address) ? new URL(address) : undefined;
  if (url === undefined || !/^https?:$/.test(url.protocol) || url.hostname === "") {
    throw new DestinationError(
      "invalid",
      `${source} ${JSON.stringify(shown(address))} is not an absolute http(s) URL such as "https://host:port/path"`,
    );
  }
  return url;
}

/** A rejected address, redacted even without a scheme ("hooks.slack.com/services/..."). */
function shown(address: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) return redactUrl(address);
  return redactUrl(`x://${address}`).slice("x://".length);
}
