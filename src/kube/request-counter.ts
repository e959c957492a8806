/**
 * Counts Kubernetes API requests by RBAC verb and resource, so tests and benchmarks can hold the
 * operator to its API budget (an idle canary must cost nothing).
 */

export interface RequestInfo {
  /** The RBAC verb: get, list, watch, create, update, patch, delete. */
  readonly verb: string;
  /** The resource with its subresource, e.g. "deployments" or "canaries/status". */
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

/**
 * What a request does, from its method and URL. Understands namespaced and cluster-scoped paths
 * of the core group (/api/v1/...) and named groups (/apis/<group>/<version>/...).
 */
export function describeRequest(method: string, url: string): RequestInfo {
  const parsed = new URL(url, "http://localhost");
  const segments = parsed.pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  const start = segments[0] === "api" ? 2 : segments[0] === "apis" ? 3 : segments.length;
  let rest = segments.slice(start);
  let namespace: string | undefined;
  // "/namespaces/<ns>" alone is a Namespace object; anything longer is a namespaced resource.
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural = "", name, ...sub] = rest;
  const resource = sub.length > 0 ? `${plural}/${sub.join("/")}` : plural;
  const upper = method.toUpperCase();
  let verb: string;
  if (upper === "GET") {
    if (parsed.searchParams.get("watch") === "true" || parsed.searchParams.get("watch") === "1")
      verb = "watch";
    else verb = name === undefined ? "list" : "get";
  } else {
    verb = { POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" }[upper] ?? upper.toLowerCase();
    if (verb === "delete" && name === undefined) verb = "deletecollection";
  }
  return { verb, resource, namespace, name };
}

export class ApiRequestCounter {
  readonly #counts = new Map<string, number>();

  record(verb: string, resource: string): void {
    const key = `${verb} ${resource}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** "verb resource" → count, sorted by key so snapshots compare and print stably. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  total(): number {
    let sum = 0;
    for (const count of this.#counts.values()) sum += count;
    return sum;
  }

  reset(): void {
    this.#counts.clear();
  }

  /** Runs `work` and returns its result with the requests it made (assuming nothing else runs meanwhile). */
  async measure<T>(
    work: () => Promise<T>,
  ): Promise<{ result: T; requests: Record<string, number>; total: number }> {
    const before = this.snapshot();
    const result = await work();
    const requests: Record<string, number> = {};
    let total = 0;
    for (const [key, count] of Object.entries(this.snapshot())) {
      const delta = count - (before[key] ?? 0);
      if (delta > 0) {
        requests[key] = delta;
        total += delta;
      }
    }
    return { result, requests, total };
  }
}
