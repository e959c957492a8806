/**
 * Takes secrets out of text before it leaves the operator as a status, an Event, a log line or an
 * alert. Chat webhooks put their credential in the address itself (Slack's, Teams', Discord's and
 * Rocket.Chat's path, Google Chat's `key`/`token` query, a user:password in any URL), so every URL in
 * a message keeps its scheme, host, port and the public start of its path, and loses the rest.
 */

export const REDACTED = "***";

/** A URL inside free text: a scheme, "://", then everything up to white space or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
/** Punctuation that ends a sentence rather than the URL ("see http://host/x."). */
const TRAILING = /[.,;:!?)\]}]+$/;
const PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i;
/** Path segments after which webhook services put their ids and tokens. */
const HOOK_SEGMENTS = new Set(["hooks", "webhooks", "webhook", "webhookb2"]);

/** The text with every URL in it redacted. */
export function redact(text: string): string {
  return text.replace(URL_IN_TEXT, (found) => {
    const trailing = TRAILING.exec(found)?.[0] ?? "";
    return redactUrl(found.slice(0, found.length - trailing.length)) + trailing;
  });
}

/**
 * One URL without its secrets: userinfo, query and fragment become "***", and so does the path
 * after a webhook service's fixed prefix (hooks.slack.com/services/***, /api/webhooks/***,
 * /webhookb2/***, /hooks/***).
 */
export function redactUrl(url: string): string {
  const parts = PARTS.exec(url);
  if (parts === null) return url;
  const [, scheme = "", authority = "", path = "", query, fragment] = parts;
  const at = authority.lastIndexOf("@");
  const host = authority.slice(at + 1);
  return (
    scheme +
    (at === -1 ? "" : `${REDACTED}@`) +
    host +
    redactPath(host.toLowerCase().replace(/:\d*$/, ""), path) +
    (query === undefined || query === "?" ? (query ?? "") : `?${REDACTED}`) +
    (fragment === undefined || fragment === "#" ? (fragment ?? "") : `#${REDACTED}`)
  );
}

function redactPath(hostname: string, path: string): string {
  const segments = path.split("/");
  // segments[0] is the empty string before the leading "/".
  const keep =
    hostname === "hooks.slack.com" || hostname.endsWith(".hooks.slack.com")
      ? 2
      : segments.findIndex((segment) => HOOK_SEGMENTS.has(segment.toLowerCase())) + 1;
  if (keep <= 0 || segments.length <= keep || segments.slice(keep).every((s) => s === "")) return path;
  return `${segments.slice(0, keep).join("/")}/${REDACTED}`;
}
