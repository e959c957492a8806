/**
 * The controller: watches Canaries, their targets and the ConfigMaps/Secrets those use (Secrets
 * as metadata only: the data of a Secret a target uses is read by name when it changes), and
 * brings each Canary's workflow up to date through one keyed work queue. Level-triggered: on
 * start, on every resync and when Temporal comes back it sends every Canary's current state,
 * which the workflow drops when it changes nothing. It never decides rollout logic.
 */
import { randomUUID } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import type { CanaryRef } from "../../workflows/activity-port.ts";
import type { TargetType, WorkloadKind } from "../api/canary.ts";
import type { DefaultsOptions } from "../api/defaults.ts";
import type { KubeClient, KubeObject } from "../kube/client.ts";
import { type ConfigKind, type ConfigObject, type ConfigRef, configRefs } from "../kube/configs.ts";
import { isInvalid, isNotFound } from "../kube/errors.ts";
import { createCanaryEvent } from "../kube/events.ts";
import { addCanaryFinalizer, removeCanaryFinalizer } from "../kube/finalizer.ts";
import { RESOURCES, type ResourceType } from "../kube/resources.ts";
import { errorMessage, type Logger } from "../log.ts";
import {
  type CommandRequest,
  commandEvent,
  lastCommandPatch,
  readCommand,
  removalPatch,
} from "./commands.ts";
import { type ChangeKind, Informer } from "./informer.ts";
import {
  type CanaryObject,
  type Decision,
  type OperatorPolicy,
  type ProblemReason,
  problemStatusPatch,
  reconcileCanary,
  SPEC_WARNING_REASON,
  showsProblem,
  type TargetObject,
  targetRefOf,
  type Workload,
} from "./reconcile.ts";
import { WorkQueue } from "./work-queue.ts";
import type { CanaryWorkflows } from "./workflows.ts";

export interface ControllerOptions {
  readonly kube: KubeClient;
  readonly workflows: CanaryWorkflows;
  /** The Canary informer, shared with the operator's metrics; started by the caller. */
  readonly canaries: Informer;
  /** One namespace, or all when undefined. */
  readonly namespace: string | undefined;
  readonly configTracking: boolean;
  readonly defaults: DefaultsOptions;
  readonly policy: OperatorPolicy;
  readonly finalizeTimeoutMs: number;
  readonly resyncPeriodMs: number;
  readonly log: Logger;
  /** Told of every Temporal call's outcome, for /readyz. */
  readonly onTemporal?: (ok: boolean, error?: unknown) => void;
  readonly onReconcile?: (ms: number, error: unknown) => void;
  /** How long Temporal took to accept a revision signal. */
  readonly onSignal?: (ms: number) => void;
}

export class Controller {
  readonly #o: ControllerOptions;
  readonly #queue: WorkQueue;
  readonly #informers: Informer[];
  readonly #targets: Record<WorkloadKind, Informer>;
  /**
   * Knative and Kubernetes Services as targets, each watched from the first Canary that targets
   * one: a cluster without Knative serves no Knative Services, one without Service targets need
   * not hold every Service, and an informer that cannot list must not hold the others back.
   */
  readonly #serviceTargets: Partial<Record<Exclude<TargetType, WorkloadKind>, Informer>> = {};
  readonly #configs: Partial<Record<ConfigKind, Informer>>;
  /**
   * The Secrets targets use, read by name, with the resourceVersion the metadata informer showed
   * when they were read: the informer holds no Secret's data, and the revision needs its checksum.
   */
  readonly #secrets = new Map<
    string,
    { readonly resourceVersion: string | undefined; readonly secret: V1Secret }
  >();
  /** What each Canary's workflow was last told, so an unchanged Canary costs no signal. */
  readonly #sent = new Map<string, string>();
  /** Canaries whose deletion the workflow was told of. */
  readonly #deleting = new Set<string>();
  /**
   * The last annotation command each Canary's status was told of, as this process wrote it: the
   * informer may show the annotation again before it shows that status, and a command is sent once.
   */
  readonly #commanded = new Map<string, { readonly name: string; readonly id: string }>();
  /** Canaries seen deleted: their workflows are told to finish. */
  readonly #gone = new Set<string>();
  #resync: NodeJS.Timeout | undefined;
  #stopped = false;
  /**
   * Set once every cache is filled: before, a revision computed from a half-filled cache (a
   * Deployment seen, its ConfigMap not yet) would start a rollout nobody asked for.
   */
  #synced = false;

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#queue = new WorkQueue((key) => this.#reconcile(key), { concurrency: 8 });
    this.#targets = {
      Deployment: this.#informer(RESOURCES.deployments, (o) => this.#targetChanged("Deployment", o)),
      DaemonSet: this.#informer(RESOURCES.daemonSets, (o) => this.#targetChanged("DaemonSet", o)),
    };
    this.#configs = options.configTracking
      ? {
          ConfigMap: this.#informer(RESOURCES.configMaps, (o) => this.#configChanged("ConfigMap", o)),
          Secret: this.#informer(
            RESOURCES.secrets,
            (o, kind) => {
              if (kind === "delete") this.#secrets.delete(keyOf(o));
              this.#configChanged("Secret", o);
            },
            true,
          ),
        }
      : {};
    this.#informers = [...Object.values(this.#targets), ...Object.values(this.#configs)];
  }

  #informer(
    type: ResourceType,
    onChange: (o: KubeObject, kind: ChangeKind) => void,
    metadataOnly = false,
  ): Informer {
    return new Informer(this.#o.kube, type, {
      namespace: this.#o.namespace,
      metadataOnly,
      onChange: (o, kind) => {
        if (this.#synced) onChange(o, kind);
      },
      onError: (err, retryInMs) =>
        this.#o.log.warn({ resource: type.plural, retryInMs, error: errorMessage(err) }, "watch failed"),
    });
  }

  /** The informer of a target type; a Service type's starts on first use. */
  #targetInformer(type: TargetType): Informer {
    if (isWorkloadType(type)) return this.#targets[type];
    const started = this.#serviceTargets[type];
    if (started) return started;
    const resource = type === "KnativeService" ? RESOURCES.knativeServices : RESOURCES.services;
    const informer = this.#informer(resource, (o) => this.#targetChanged(type, o));
    this.#serviceTargets[type] = informer;
    void informer.start();
    // The Canaries that waited for it are reconciled once it holds every such Service.
    void informer.whenSynced().then(() => {
      for (const canary of this.#o.canaries.list()) {
        if (targetRefOf(canary as CanaryObject)?.type === type) this.#queue.add(keyOf(canary));
      }
    });
    return informer;
  }

  /** Keys waiting or in work. */
  get queueDepth(): number {
    return this.#queue.depth;
  }

  get synced(): boolean {
    return this.#informers.every((i) => i.synced);
  }

  /**
   * Starts watching. Reconciling begins once every cache is filled (an informer that cannot list,
   * say for want of RBAC, keeps retrying and /readyz says so), with every Canary queued.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    await Promise.all(this.#informers.map((i) => i.start()));
    for (const informer of Object.values(this.#serviceTargets)) void informer.start();
    void Promise.all(this.#informers.map((i) => i.whenSynced())).then(() => {
      if (this.#stopped) return;
      this.#synced = true;
      this.resyncAll();
      this.#resync = setInterval(() => this.resyncAll(), this.#o.resyncPeriodMs);
      this.#resync.unref();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#synced = false;
    clearInterval(this.#resync);
    await Promise.all([...this.#informers, ...Object.values(this.#serviceTargets)].map((i) => i.stop()));
    await this.#queue.stop();
  }

  /** The shared Canary informer's events, forwarded by the operator while this controller runs. */
  canaryChanged(object: KubeObject, kind: ChangeKind): void {
    if (!this.#synced) return;
    const key = keyOf(object);
    if (kind === "delete") this.#gone.add(key);
    this.#queue.add(key);
  }

  /**
   * Sends every Canary's current state again, and tells the workflows of Canaries that no longer
   * exist (deleted while no controller ran) to finish: on start, periodically, and after Temporal
   * returns.
   */
  resyncAll(): void {
    if (!this.#synced) return;
    this.#sent.clear();
    const used = new Set<string>();
    for (const canary of this.#o.canaries.list()) {
      this.#queue.add(keyOf(canary));
      const namespace = canary.metadata?.namespace ?? "";
      for (const ref of this.#secretRefs(namespace, canary as CanaryObject))
        used.add(`${namespace}/${ref.name}`);
    }
    for (const key of this.#secrets.keys()) if (!used.has(key)) this.#secrets.delete(key);
    void this.#sweep();
  }

  async #sweep(): Promise<void> {
    let running: CanaryRef[];
    try {
      running = await this.#temporal(() => this.#o.workflows.listRunning());
    } catch (err) {
      this.#o.log.warn({ error: errorMessage(err) }, "could not list running canary workflows");
      return;
    }
    for (const ref of running) {
      if (this.#o.namespace !== undefined && ref.namespace !== this.#o.namespace) continue;
      if (this.#o.canaries.get(ref.namespace, ref.name)) continue;
      const key = `${ref.namespace}/${ref.name}`;
      this.#o.log.info({ canary: key }, "the Canary is gone: its workflow is told to finish");
      this.#gone.add(key);
      this.#queue.add(key);
    }
  }

  #targetChanged(type: TargetType, workload: KubeObject): void {
    const { namespace, name } = workload.metadata ?? {};
    for (const canary of this.#o.canaries.list(namespace)) {
      const target = targetRefOf(canary as CanaryObject);
      if (target?.type === type && target.name === name) this.#queue.add(keyOf(canary));
    }
  }

  /** The Secrets the Canary's target uses, as the target is in the informer cache. */
  #secretRefs(namespace: string, canary: CanaryObject): ConfigRef[] {
    const target = targetRefOf(canary);
    // A Service target's configs are not tracked: only workloads' pod templates name configs.
    if (!target || !isWorkloadType(target.type) || !this.#configs.Secret) return [];
    const workload = this.#targets[target.type].get(namespace, target.name) as Workload | undefined;
    return configRefs(workload?.spec?.template?.spec).filter((r) => r.kind === "Secret");
  }

  /**
   * Reads the Secrets the target uses whose metadata changed since they were last read, so that
   * the revision can be computed from their data.
   */
  async #readSecrets(namespace: string, canary: CanaryObject): Promise<void> {
    const informer = this.#configs.Secret;
    if (!informer) return;
    await Promise.all(
      this.#secretRefs(namespace, canary).map(async ({ name }) => {
        const key = `${namespace}/${name}`;
        const seen = informer.get(namespace, name)?.metadata?.resourceVersion;
        if (seen === undefined) return this.#secrets.delete(key);
        if (this.#secrets.get(key)?.resourceVersion === seen) return;
        const secret = await this.#o.kube.find<V1Secret>(RESOURCES.secrets, namespace, name);
        if (secret) this.#secrets.set(key, { resourceVersion: seen, secret });
        else this.#secrets.delete(key);
      }),
    );
  }

  /** A config as the revision needs it: a ConfigMap from its informer, a Secret as read by name. */
  #config(namespace: string, kind: ConfigKind, name: string): ConfigObject | undefined {
    if (kind === "ConfigMap")
      return this.#configs.ConfigMap?.get(namespace, name) as ConfigObject | undefined;
    if (!this.#configs.Secret?.get(namespace, name)) return undefined;
    return this.#secrets.get(`${namespace}/${name}`)?.secret;
  }

  #configChanged(kind: ConfigKind, config: KubeObject): void {
    const { namespace = "", name } = config.metadata ?? {};
    for (const canary of this.#o.canaries.list(namespace)) {
      const target = targetRefOf(canary as CanaryObject);
      if (!target || !isWorkloadType(target.type)) continue;
      const workload = this.#targets[target.type].get(namespace, target.name) as Workload | undefined;
      const uses = configRefs(workload?.spec?.template?.spec).some((r) => r.kind === kind && r.name === name);
      if (uses) this.#queue.add(keyOf(canary));
    }
  }

  async #reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const started = performance.now();
    let error: unknown;
    try {
      return await this.#reconcileKey(key);
    } catch (err) {
      error = err;
      this.#o.log.warn({ canary: key, error: errorMessage(err) }, "reconcile failed; retrying");
      throw err;
    } finally {
      this.#o.onReconcile?.(performance.now() - started, error);
    }
  }

  async #reconcileKey(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const [namespace, name] = key.split("/") as [string, string];
    const ref: CanaryRef = { namespace, name };
    const canary = this.#o.canaries.get(namespace, name) as CanaryObject | undefined;
    if (!canary) {
      this.#sent.delete(key);
      this.#commanded.delete(key);
      if (this.#gone.has(key)) {
        // Deleted without our finalizer: its workflow finalizes (without revert) and ends.
        await this.#temporal(() => this.#o.workflows.sendDelete(ref));
        this.#gone.delete(key);
        this.#deleting.delete(key);
      }
      return undefined;
    }
    this.#gone.delete(key);
    // A Service target is reconciled once its informer has listed them; not found before is no answer.
    const type = targetRefOf(canary)?.type;
    if (type !== undefined && !isWorkloadType(type) && !this.#targetInformer(type).synced) return undefined;
    await this.#readSecrets(namespace, canary);
    const decision = reconcileCanary({
      canary,
      target: (type, target) => this.#targetInformer(type).get(namespace, target) as TargetObject | undefined,
      config: (kind, config) => this.#config(namespace, kind, config),
      configTracking: this.#o.configTracking,
      defaults: this.#o.defaults,
      policy: this.#o.policy,
      nowMs: Date.now(),
      finalizeTimeoutMs: this.#o.finalizeTimeoutMs,
    });
    const outcome = await this.#carryOut(ref, canary, decision);
    if (canary.metadata.deletionTimestamp === undefined) await this.#command(ref, canary);
    return outcome;
  }

  /**
   * A command given by annotation: sent to the workflow as an update (unless invalid or already
   * done), acknowledged in status.lastCommand and an Event, then the annotations removed. Temporal
   * not answering throws, so the annotation stays and the reconcile retries.
   */
  async #command(ref: CanaryRef, canary: CanaryObject): Promise<void> {
    const key = `${ref.namespace}/${ref.name}`;
    const handled = [canary.status?.lastCommand, this.#commanded.get(key)].filter((c) => c !== undefined);
    const request = readCommand(canary.metadata, handled);
    if (!request) return;
    if (request.kind !== "repeat") await this.#acknowledge(ref, canary, request);
    try {
      await this.#o.kube.jsonPatch(
        RESOURCES.canaries,
        ref.namespace,
        ref.name,
        removalPatch(request.present),
      );
    } catch (err) {
      // Changed meanwhile (a newer command, or already removed): the next reconcile reads it.
      if (!isInvalid(err) && !isNotFound(err)) throw err;
    }
  }

  async #acknowledge(
    ref: CanaryRef,
    canary: CanaryObject,
    request: Exclude<CommandRequest, { kind: "repeat" }>,
  ): Promise<void> {
    const key = `${ref.namespace}/${ref.name}`;
    const outcome =
      request.kind === "send"
        ? await this.#temporal(() =>
            this.#o.workflows.sendCommand(
              ref,
              request.command,
              request.input,
              `annotation/${canary.metadata.uid}/${request.name}/${request.id}`,
            ),
          )
        : { accepted: false, message: request.message };
    await this.#o.kube.mergePatch(
      RESOURCES.canaries,
      ref.namespace,
      ref.name,
      { status: { lastCommand: lastCommandPatch(request, outcome, new Date().toISOString()) } },
      "status",
    );
    this.#commanded.set(key, { name: request.name, id: request.id });
    const event = commandEvent(request, outcome);
    await this.#event(ref, event.type, event.reason, event.message);
    this.#o.log.info(
      {
        canary: key,
        command: request.name,
        by: request.by,
        accepted: outcome.accepted,
        message: outcome.message,
      },
      "annotation command",
    );
  }

  async #carryOut(
    ref: CanaryRef,
    canary: CanaryObject,
    decision: Decision,
  ): Promise<{ requeueAfterMs?: number } | undefined> {
    const key = `${ref.namespace}/${ref.name}`;
    switch (decision.kind) {
      case "none":
        return undefined;
      case "problem":
        this.#sent.delete(key);
        await this.#showProblem(ref, canary, decision.reason, decision.message);
        return undefined;
      case "revision": {
        const fingerprint = `${decision.revision}/${decision.generation}`;
        if (!decision.resyncStatus && this.#sent.get(key) === fingerprint) return undefined;
        if (decision.addFinalizer) await addCanaryFinalizer(this.#o.kube, ref.namespace, ref.name);
        const sending = performance.now();
        await this.#temporal(() =>
          this.#o.workflows.sendRevision(ref, {
            revision: decision.revision,
            spec: decision.spec,
            generation: decision.generation,
            ...(decision.resyncStatus ? { resyncStatus: true } : {}),
          }),
        );
        this.#o.onSignal?.(performance.now() - sending);
        this.#sent.set(key, fingerprint);
        this.#o.log.debug({ canary: key, revision: decision.revision }, "revision sent");
        // Once per spec change or revision: fields without effect, and what Flagger reads differently.
        for (const warning of decision.warnings)
          await this.#event(ref, "Warning", SPEC_WARNING_REASON, warning);
        return undefined;
      }
      case "finalize":
        return this.#finalize(ref, decision.giveUpInMs);
    }
  }

  /**
   * A deleted Canary with our finalizer: its workflow finalizes and removes the finalizer. When no
   * workflow runs, or it has not finished in time (Temporal down, a revert that cannot complete),
   * the controller removes the finalizer itself: a Canary is never stuck in Terminating.
   */
  async #finalize(ref: CanaryRef, giveUpInMs: number): Promise<{ requeueAfterMs?: number } | undefined> {
    const key = `${ref.namespace}/${ref.name}`;
    const checkAgainMs = Math.max(100, Math.min(giveUpInMs, 2000));
    let running: boolean;
    try {
      running = await this.#temporal(() => this.#o.workflows.isRunning(ref));
      if (running && !this.#deleting.has(key)) {
        await this.#temporal(() => this.#o.workflows.sendDelete(ref));
        this.#deleting.add(key);
      }
    } catch (err) {
      if (giveUpInMs > 0) return { requeueAfterMs: checkAgainMs };
      await this.#release(ref, `Temporal is unreachable (${errorMessage(err)})`);
      return undefined;
    }
    if (!running) {
      await removeCanaryFinalizer(this.#o.kube, ref.namespace, ref.name);
      this.#deleting.delete(key);
      return undefined;
    }
    if (giveUpInMs > 0) return { requeueAfterMs: checkAgainMs };
    await this.#release(
      ref,
      `its workflow did not finish finalizing within ${Math.round(this.#o.finalizeTimeoutMs / 1000)}s`,
    );
    return undefined;
  }

  async #release(ref: CanaryRef, why: string): Promise<void> {
    await this.#event(ref, "Warning", "Terminating", `Finalizer removed without finalization: ${why}`);
    await removeCanaryFinalizer(this.#o.kube, ref.namespace, ref.name);
    this.#deleting.delete(`${ref.namespace}/${ref.name}`);
  }

  async #showProblem(
    ref: CanaryRef,
    canary: CanaryObject,
    reason: ProblemReason,
    message: string,
  ): Promise<void> {
    if (showsProblem(canary.status, reason, message)) return;
    const now = new Date().toISOString();
    await this.#o.kube.mergePatch(
      RESOURCES.canaries,
      ref.namespace,
      ref.name,
      { status: problemStatusPatch(canary.status, reason, message, now) },
      "status",
    );
    await this.#event(ref, "Warning", reason, message);
    this.#o.log.warn({ canary: `${ref.namespace}/${ref.name}`, reason, message }, "canary not started");
  }

  async #event(ref: CanaryRef, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const uid = this.#o.canaries.get(ref.namespace, ref.name)?.metadata?.uid;
    if (!uid) return;
    await createCanaryEvent(
      this.#o.kube,
      { ...ref, uid },
      { type, reason, message },
      randomUUID().slice(0, 16),
      new Date().toISOString(),
    ).catch((err: unknown) => this.#o.log.warn({ error: errorMessage(err) }, "event not recorded"));
  }

  async #temporal<T>(call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.#o.onTemporal?.(true);
      return result;
    } catch (err) {
      this.#o.onTemporal?.(false, err);
      throw err;
    }
  }
}

function isWorkloadType(type: TargetType): type is WorkloadKind {
  return type === "Deployment" || type === "DaemonSet";
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace}/${object.metadata?.name}`;
}
