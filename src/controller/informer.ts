/**
 * One informer: a list, then a watch from its resourceVersion, with the objects kept in memory.
 * client-node's ListWatch relists on 410 Gone and reconnects after a quiet or closed watch; an
 * error ends it, so this restarts it with a backoff (1 s doubling to 30 s) and says when the
 * cache is synced, which /readyz reports.
 */
import { type KubeConfig, type KubernetesListObject, ListWatch, Watch } from "@kubernetes/client-node";
import { type KubeClient, type KubeObject, METADATA_ACCEPT } from "../kube/client.ts";
import { type ResourceType, resourcePath } from "../kube/resources.ts";

export type ChangeKind = "add" | "update" | "delete";

export interface InformerOptions {
  /** One namespace, or every namespace when undefined. */
  readonly namespace: string | undefined;
  readonly onChange: (object: KubeObject, kind: ChangeKind) => void;
  readonly onError?: (error: unknown, retryInMs: number) => void;
  /**
   * Keep only the objects' metadata (PartialObjectMetadata), without the annotation in which
   * `kubectl apply` stores a whole copy of the object: for Secrets, whose data must not sit in
   * this process's memory for every Secret of the cluster.
   */
  readonly metadataOnly?: boolean;
}

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

function withoutLastApplied<T extends KubeObject>(object: T): T {
  const annotations = object.metadata?.annotations;
  if (annotations?.[LAST_APPLIED] === undefined) return object;
  const { [LAST_APPLIED]: _copy, ...rest } = annotations;
  return { ...object, metadata: { ...object.metadata, annotations: rest } };
}

/** A watch that asks for metadata only and drops the last-applied copy from every event's object. */
class MetadataWatch extends Watch {
  constructor(kubeConfig: KubeConfig) {
    // The Watch authenticates through its config: this one also asks for PartialObjectMetadata.
    const config = Object.create(kubeConfig) as KubeConfig;
    config.applySecurityAuthentication = async (context) => {
      await kubeConfig.applySecurityAuthentication(context);
      context.setHeaderParam("Accept", METADATA_ACCEPT);
    };
    super(config);
  }

  override watch(...[path, query, callback, done]: Parameters<Watch["watch"]>): ReturnType<Watch["watch"]> {
    return super.watch(
      path,
      query,
      (phase, object, data) => callback(phase, object ? withoutLastApplied(object) : object, data),
      done,
    );
  }
}

const firstRetryMs = 1000;
const maxRetryMs = 30_000;

export class Informer<T extends KubeObject = KubeObject> {
  readonly type: ResourceType;
  readonly #list: ListWatch<T>;
  readonly #onError: InformerOptions["onError"];
  #synced = false;
  #stopped = false;
  #retryMs = firstRetryMs;
  #restart: NodeJS.Timeout | undefined;
  #onSynced: (() => void)[] = [];

  constructor(kube: KubeClient, type: ResourceType, options: InformerOptions) {
    this.type = type;
    this.#onError = options.onError;
    const metadataOnly = options.metadataOnly === true;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const listed = await kube.list<T>(type, options.namespace, { metadataOnly });
      return (
        // An empty PartialObjectMetadataList has `items: null`.
        (
          metadataOnly ? { ...listed, items: (listed.items ?? []).map(withoutLastApplied) } : listed
        ) as KubernetesListObject<T>
      );
    };
    this.#list = new ListWatch<T>(
      resourcePath(type, options.namespace),
      metadataOnly ? new MetadataWatch(kube.kubeConfig) : new Watch(kube.kubeConfig),
      list,
      false,
    );
    this.#list.on("add", (o) => options.onChange(o, "add"));
    this.#list.on("update", (o) => options.onChange(o, "update"));
    this.#list.on("delete", (o) => options.onChange(o, "delete"));
    this.#list.on("error", (err) => this.#failed(err));
  }

  /** True once the first list has been read; stays true across reconnects (the cache stays usable). */
  get synced(): boolean {
    return this.#synced;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    let failed = false;
    const onError = () => {
      failed = true;
    };
    this.#list.on("error", onError);
    await this.#list.start();
    this.#list.off("error", onError);
    if (failed) return;
    this.#synced = true;
    this.#retryMs = firstRetryMs;
    for (const resolve of this.#onSynced.splice(0)) resolve();
  }

  /** Resolves once the first list has been read (retried with backoff until it can be). */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#onSynced.push(resolve));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restart);
    await this.#list.stop();
  }

  get(namespace: string, name: string): T | undefined {
    return this.#list.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#list.list(namespace);
  }

  #failed(err: unknown): void {
    if (this.#stopped) return;
    const retryInMs = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, maxRetryMs);
    this.#onError?.(err, retryInMs);
    clearTimeout(this.#restart);
    this.#restart = setTimeout(() => {
      if (!this.#stopped) void this.start();
    }, retryInMs);
    this.#restart.unref();
  }
}
