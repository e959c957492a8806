/**
 * The Kubernetes client every durable-canary process uses: a few generic verbs over the resources
 * in resources.ts, built on @kubernetes/client-node's request pipeline (its configuration,
 * authentication and middleware), with
 *  - server-side apply under the field manager `durable-canary`,
 *  - errors that name the verb, resource and namespace (errors.ts),
 *  - a request counter by verb and resource, fed by a client middleware, so typed API clients made
 *    with `api()` are counted too,
 *  - one connection pool per client (client-node makes a new agent, hence a new TLS connection,
 *    for every request).
 * Objects are plain JSON as the server sent them: nothing is dropped by a client-side model, so a
 * pod template copied from one workload to another keeps fields this client does not know.
 */
import {
  type Configuration,
  createConfiguration,
  HttpMethod,
  type KubeConfig,
  type KubernetesObject,
  type Middleware,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
  Watch,
} from "@kubernetes/client-node";
import { errorMessage } from "../log.ts";
import { loadKubeConfig } from "./config.ts";
import { apiError, isNotFound, KubeApiError } from "./errors.ts";
import { ApiRequestCounter, describeRequest } from "./request-counter.ts";
import { apiVersionOf, type ResourceType, resourcePath } from "./resources.ts";

/** The field manager of every write the operator makes. */
export const FIELD_MANAGER = "durable-canary";

export type KubeObject = KubernetesObject & Record<string, unknown>;

/** The Accept header that asks the API server for metadata only (PartialObjectMetadataList). */
export const METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
/** The same for single objects and watch events (PartialObjectMetadata). */
export const METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

export interface ListOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface ObjectList<T> {
  readonly items: T[];
  readonly metadata: { readonly resourceVersion?: string };
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchOptions extends ListOptions {
  readonly resourceVersion?: string;
  /** The server ends the watch after this long; callers restart it from the last resourceVersion. */
  readonly timeoutSeconds?: number;
}

export interface KubeClientOptions {
  readonly counter?: ApiRequestCounter;
  readonly fieldManager?: string;
  /** A request without an answer after this long fails (retryably), so no activity hangs on one. */
  readonly requestTimeoutMs?: number;
}

export interface JsonPatchOperation {
  readonly op: "add" | "remove" | "replace" | "test" | "copy";
  readonly path: string;
  readonly value?: unknown;
  /** Where a copy takes its value from. */
  readonly from?: string;
}

type Query = Record<string, string | undefined>;

/** The request middleware that counts; exported so any client-node API client can carry it. */
export function countingMiddleware(counter: ApiRequestCounter): Middleware {
  return {
    pre: async (context: RequestContext) => {
      const info = describeRequest(context.getHttpMethod(), context.getUrl());
      counter.record(info.verb, info.resource);
      return context;
    },
    post: async (context: ResponseContext) => context,
  };
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly counter: ApiRequestCounter;
  readonly fieldManager: string;
  readonly #requestTimeoutMs: number;
  readonly #configuration: Configuration;
  #dispatcher: ReturnType<RequestContext["getDispatcher"]>;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("no Kubernetes cluster configured: set KUBECONFIG or pass --kubeconfig");
    this.kubeConfig = kubeConfig;
    this.counter = options.counter ?? new ApiRequestCounter();
    this.fieldManager = options.fieldManager ?? FIELD_MANAGER;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 20_000;
    this.#configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
      promiseMiddleware: [countingMiddleware(this.counter)],
    });
  }

  /** A typed client-node API client sharing this client's server, credentials and counter. */
  api<T>(apiClass: new (configuration: Configuration) => T): T {
    return new apiClass(this.#configuration);
  }

  async get<T extends object = KubeObject>(type: ResourceType, namespace: string, name: string): Promise<T> {
    return (await this.#request("GET", type, namespace, name)) as T;
  }

  /** Like get, but a missing object is `undefined` rather than an error. */
  async find<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(type, namespace, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Lists one namespace, or all of them when `namespace` is undefined. */
  async list<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    options: ListOptions & { readonly metadataOnly?: boolean } = {},
  ): Promise<ObjectList<T>> {
    return (await this.#request("GET", type, namespace, undefined, {
      query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
      ...(options.metadataOnly ? { accept: METADATA_LIST_ACCEPT } : {}),
    })) as ObjectList<T>;
  }

  async create<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string,
    body: object,
  ): Promise<T> {
    return (await this.#request("POST", type, namespace, undefined, {
      body: withType(type, body),
      query: { fieldManager: this.fieldManager },
    })) as T;
  }

  /**
   * Server-side apply: `body` is the whole configuration this operator wants for the fields it
   * manages. Fields it applied before and leaves out are removed; fields others manage are kept.
   * Conflicts with other managers are forced: the operator owns what it applies.
   */
  async apply<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
    body: object,
    subresource?: string,
  ): Promise<T> {
    return (await this.#request("PATCH", type, namespace, name, {
      subresource,
      body: withType(type, withoutEmptyMetadata(body)),
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: this.fieldManager, force: "true" },
    })) as T;
  }

  /**
   * JSON merge patch. With `metadata.resourceVersion` in the patch it only applies to that version
   * and fails with a conflict otherwise (see retryOnConflict).
   */
  async mergePatch<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
    patch: object,
    subresource?: string,
  ): Promise<T> {
    return (await this.#request("PATCH", type, namespace, name, {
      subresource,
      body: patch,
      contentType: "application/merge-patch+json",
      query: { fieldManager: this.fieldManager },
    })) as T;
  }

  /** JSON patch (RFC 6902): precise list edits, and `test` operations as preconditions. */
  async jsonPatch<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
    operations: readonly JsonPatchOperation[],
    subresource?: string,
  ): Promise<T> {
    return (await this.#request("PATCH", type, namespace, name, {
      subresource,
      body: operations,
      contentType: "application/json-patch+json",
      query: { fieldManager: this.fieldManager },
    })) as T;
  }

  /** Replaces the object; its metadata.resourceVersion makes this fail with a conflict if it changed. */
  async replace<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
    body: object,
  ): Promise<T> {
    return (await this.#request("PUT", type, namespace, name, {
      body: withType(type, body),
      query: { fieldManager: this.fieldManager },
    })) as T;
  }

  /** Deletes the object; false when it was already gone. */
  async delete(type: ResourceType, namespace: string, name: string): Promise<boolean> {
    try {
      await this.#request("DELETE", type, namespace, name, { body: { propagationPolicy: "Background" } });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Watches a collection until the server ends the watch (`timeoutSeconds`), `signal` aborts it
   * or the connection fails; resolves with the error, if any. Events arrive through `onEvent`.
   */
  watch<T extends object = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: T) => void,
    signal?: AbortSignal,
  ): Promise<Error | undefined> {
    const path = resourcePath(type, namespace);
    this.counter.record("watch", type.plural);
    return new Promise((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        controller?.abort();
        resolve(err ? toWatchError(err, type, namespace) : undefined);
      };
      const onAbort = () => finish(undefined);
      if (signal?.aborted) {
        finish(undefined);
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      new Watch(this.kubeConfig)
        .watch(
          path,
          {
            resourceVersion: options.resourceVersion,
            labelSelector: options.labelSelector,
            fieldSelector: options.fieldSelector,
            timeoutSeconds: options.timeoutSeconds,
            allowWatchBookmarks: true,
          },
          (phase: string, object: T) => {
            if (!settled) onEvent(phase as WatchEventType, object);
          },
          finish,
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }

  async #request(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    type: ResourceType,
    namespace: string | undefined,
    name: string | undefined,
    options: {
      subresource?: string | undefined;
      body?: object;
      contentType?: string;
      query?: Query;
      accept?: string;
    } = {},
  ): Promise<unknown> {
    const config = this.#configuration;
    const path = resourcePath(type, namespace, name, options.subresource);
    const context = config.baseServer.makeRequestContext(path, HttpMethod[method]);
    context.setHeaderParam("Accept", options.accept ?? "application/json");
    context.setSignal(AbortSignal.timeout(this.#requestTimeoutMs));
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) context.setQueryParam(key, value);
    }
    if (options.body !== undefined) {
      context.setHeaderParam("Content-Type", options.contentType ?? "application/json");
      context.setBody(JSON.stringify(options.body));
    }
    await config.authMethods.default?.applySecurityAuthentication(context);
    // Reuse the first agent for every request: same cluster, same TLS settings, pooled connections.
    this.#dispatcher ??= context.getDispatcher();
    if (this.#dispatcher) context.setDispatcher(this.#dispatcher);

    let prepared = context;
    for (const middleware of config.middleware) prepared = await middleware.pre(prepared).toPromise();
    let response: ResponseContext;
    try {
      response = await config.httpApi.send(prepared).toPromise();
    } catch (err) {
      const info = describeRequest(method, prepared.getUrl());
      throw new KubeApiError(
        0,
        "Unreachable",
        `${info.verb} ${type.plural}${namespace === undefined ? "" : ` in namespace ${namespace}`} failed: ${errorMessage(err)}`,
        info,
      );
    }
    for (const middleware of config.middleware) response = await middleware.post(response).toPromise();
    const text = await response.body.text();
    const body = parseJson(text);
    if (response.httpStatusCode >= 200 && response.httpStatusCode < 300) return body;
    throw apiError(response.httpStatusCode, body, describeRequest(method, prepared.getUrl()), type);
  }
}

/** The client of a process: the cluster found as kubectl finds it (see config.ts), or the kubeconfig given. */
export function createKubeClient(
  options: KubeClientOptions & { kubeconfig?: string | undefined } = {},
): KubeClient {
  return new KubeClient(loadKubeConfig({ kubeconfig: options.kubeconfig }), options);
}

function withType(type: ResourceType, body: object): object {
  return { apiVersion: apiVersionOf(type), kind: type.kind, ...body };
}

/**
 * Leaves empty label and annotation maps out of an apply: the API server stores custom resources
 * anew (a new resourceVersion, watchers woken) on every apply that names an empty map.
 */
function withoutEmptyMetadata(body: object): object {
  const metadata = (body as { metadata?: Record<string, unknown> }).metadata;
  if (!metadata) return body;
  const pruned = Object.fromEntries(
    Object.entries(metadata).filter(
      ([key, value]) =>
        !(
          (key === "labels" || key === "annotations") &&
          typeof value === "object" &&
          value !== null &&
          Object.keys(value).length === 0
        ),
    ),
  );
  return { ...body, metadata: pruned };
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, 500) };
  }
}

function toWatchError(err: unknown, type: ResourceType, namespace: string | undefined): Error {
  const code = (err as { statusCode?: number }).statusCode;
  if (typeof code === "number") {
    return apiError(
      code,
      undefined,
      { verb: "watch", resource: type.plural, namespace, name: undefined },
      type,
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}
