/**
 * Shared watches for the readiness waits: one watch per workload kind and scope (every namespace,
 * or one namespace), however many waits follow it. With 1,000 canaries waiting for their pods the
 * API server serves one watch, not 1,000.
 *
 * A shared watch keeps no objects (the worker's memory stays flat however big the cluster is):
 * each wait reads its own workload, then judges the events for it. The watch starts from a fresh
 * point (a list that matches nothing, for its resourceVersion), resumes from its last
 * resourceVersion when the server ends it or the connection drops (the server replays what was
 * missed), and when the server no longer has that point (410 Gone) starts from a fresh one and
 * tells every wait to read its workload again. It stops a little after its last wait leaves, so
 * idle canaries cost no request.
 */
import type { KubeClient, KubeObject } from "../src/kube/client.ts";
import { isForbidden } from "../src/kube/errors.ts";
import { qualifiedName, type ResourceType } from "../src/kube/resources.ts";

/** What a wait hears about its workload. */
export interface WatchListener {
  /** An ADDED or MODIFIED event for the workload, in the order the server sent them. */
  readonly object: (object: KubeObject) => void;
  /** The workload was deleted, or the watch restarted from a fresh point: read it again. */
  readonly reread: () => void;
  /** The operator may not list or watch the kind here: the wait cannot follow it. */
  readonly failed: (error: Error) => void;
}

export interface WatchSubscription {
  /** Changes whenever the watch (re)starts from a fresh point; undefined while it has none. */
  readonly epoch: number | undefined;
  /** Starts the shared watch if it is not running; until then the listener hears a running one only. */
  follow(): void;
  close(): void;
}

export interface WorkloadWatchOptions {
  /**
   * One watch per kind across every namespace: for an operator that watches every namespace (its
   * ClusterRole may list them). Otherwise one per kind and namespace, which a Role allows.
   */
  readonly allNamespaces?: boolean;
  /** How long a watch stays open after its last wait leaves, for the next one. */
  readonly lingerMs?: number;
}

/** Seconds a single watch request stays open; below client-node's 30 s idle timeout. */
const WATCH_SECONDS = 25;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
const DEFAULT_LINGER_MS = 5000;

/** A selector no object matches: the list answers with the collection's resourceVersion only. */
const NOTHING = "metadata.name=";

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ""}/${name ?? ""}`;
}

/** 410 Gone, as a failed watch request or as the Status of an ERROR event. */
function isGone(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 410;
}

class SharedWatch {
  readonly #kube: KubeClient;
  readonly #type: ResourceType;
  readonly #namespace: string | undefined;
  readonly #lingerMs: number;
  readonly #listeners = new Map<string, Set<WatchListener>>();
  #count = 0;
  #epoch = 0;
  #live = false;
  #run: AbortController | undefined;
  #linger: NodeJS.Timeout | undefined;

  constructor(kube: KubeClient, type: ResourceType, namespace: string | undefined, lingerMs: number) {
    this.#kube = kube;
    this.#type = type;
    this.#namespace = namespace;
    this.#lingerMs = lingerMs;
  }

  get epoch(): number | undefined {
    return this.#live ? this.#epoch : undefined;
  }

  add(key: string, listener: WatchListener): void {
    clearTimeout(this.#linger);
    const set = this.#listeners.get(key) ?? new Set();
    this.#listeners.set(key, set.add(listener));
    this.#count++;
  }

  start(): void {
    if (this.#run) return;
    this.#run = new AbortController();
    void this.#follow(this.#run.signal);
  }

  remove(key: string, listener: WatchListener): void {
    const set = this.#listeners.get(key);
    if (!set?.delete(listener)) return;
    if (set.size === 0) this.#listeners.delete(key);
    if (--this.#count > 0) return;
    this.#linger = setTimeout(() => this.stop(), this.#lingerMs);
    this.#linger.unref();
  }

  stop(): void {
    clearTimeout(this.#linger);
    this.#run?.abort();
    this.#run = undefined;
    this.#live = false;
  }

  #each(notify: (listener: WatchListener) => void): void {
    for (const set of this.#listeners.values()) for (const listener of [...set]) notify(listener);
  }

  async #follow(stop: AbortSignal): Promise<void> {
    let resourceVersion: string | undefined;
    let retryMs = FIRST_RETRY_MS;
    const retry = async (error: unknown) => {
      if (isForbidden(error)) this.#each((l) => l.failed(error as Error));
      await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    };
    while (!stop.aborted) {
      if (resourceVersion === undefined) {
        try {
          const list = await this.#kube.list(this.#type, this.#namespace, { fieldSelector: NOTHING });
          resourceVersion = list.metadata.resourceVersion;
        } catch (err) {
          await retry(err);
          continue;
        }
        if (stop.aborted) return;
        this.#epoch++;
        this.#live = true;
        // Whatever a wait read before this point may have changed unseen.
        this.#each((l) => l.reread());
      }
      let gone = false;
      const request = new AbortController();
      const end = () => request.abort();
      stop.addEventListener("abort", end, { once: true });
      const failure = await this.#kube.watch<KubeObject>(
        this.#type,
        this.#namespace,
        { resourceVersion, timeoutSeconds: WATCH_SECONDS },
        (event, object) => {
          if (event === "ERROR") {
            gone ||= isGone(object);
            request.abort();
            return;
          }
          resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
          if (event === "BOOKMARK") return;
          const listeners = this.#listeners.get(keyOf(object.metadata?.namespace, object.metadata?.name));
          for (const listener of [...(listeners ?? [])]) {
            if (event === "DELETED") listener.reread();
            else listener.object(object);
          }
        },
        request.signal,
      );
      stop.removeEventListener("abort", end);
      if (stop.aborted) return;
      if (gone || isGone(failure)) {
        // The server no longer has our point: start from a fresh one (every wait reads again).
        this.#live = false;
        resourceVersion = undefined;
      } else if (failure) {
        // A dropped connection: resume from the last resourceVersion, which loses nothing.
        await retry(failure);
      } else {
        retryMs = FIRST_RETRY_MS;
      }
    }
  }
}

/** The shared watches of one client, by kind and scope. */
export class WorkloadWatches {
  readonly #kube: KubeClient;
  readonly #allNamespaces: boolean;
  readonly #lingerMs: number;
  readonly #watches = new Map<string, SharedWatch>();

  constructor(kube: KubeClient, options: WorkloadWatchOptions = {}) {
    this.#kube = kube;
    this.#allNamespaces = options.allNamespaces ?? false;
    this.#lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
  }

  #watch(type: ResourceType, namespace: string): SharedWatch {
    const scope = this.#allNamespaces ? undefined : namespace;
    const key = `${qualifiedName(type)}/${scope ?? ""}`;
    const watch = this.#watches.get(key) ?? new SharedWatch(this.#kube, type, scope, this.#lingerMs);
    this.#watches.set(key, watch);
    return watch;
  }

  /** The epoch of the watch that covers this namespace, if it follows every change now. */
  epoch(type: ResourceType, namespace: string): number | undefined {
    return this.#watch(type, namespace).epoch;
  }

  /**
   * Listens for one workload's events on the shared watch of its kind. A wait subscribes before it
   * reads the workload, so no event is dispatched between its read and its listening; it calls
   * `follow` only if it has to wait.
   */
  subscribe(type: ResourceType, namespace: string, name: string, listener: WatchListener): WatchSubscription {
    const watch = this.#watch(type, namespace);
    const key = keyOf(namespace, name);
    watch.add(key, listener);
    return {
      get epoch() {
        return watch.epoch;
      },
      follow: () => watch.start(),
      close: () => watch.remove(key, listener),
    };
  }

  /** Stops every watch now (they restart when a wait subscribes again). */
  stop(): void {
    for (const watch of this.#watches.values()) watch.stop();
  }
}

const byClient = new WeakMap<KubeClient, WorkloadWatches>();

/**
 * The shared watches of the waits made over this client: one per kind and namespace unless
 * `shareWorkloadWatches` chose every namespace for it.
 */
export function workloadWatches(kube: KubeClient): WorkloadWatches {
  const watches = byClient.get(kube) ?? new WorkloadWatches(kube);
  byClient.set(kube, watches);
  return watches;
}

/** Says how the waits over this client share watches (the worker: by the operator's namespace setting). */
export function shareWorkloadWatches(kube: KubeClient, options: WorkloadWatchOptions): WorkloadWatches {
  byClient.get(kube)?.stop();
  const watches = new WorkloadWatches(kube, options);
  byClient.set(kube, watches);
  return watches;
}
