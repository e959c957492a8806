/**
 * Leader election on a coordination.k8s.io Lease, so that of N operator replicas exactly one
 * runs the controller. Every write is a replace conditioned on the Lease's resourceVersion (the
 * fence): of two candidates racing for an expired Lease, one write fails with a conflict.
 *
 * Expiry is judged by this process's clock from when it last saw the Lease change, never by
 * comparing another machine's timestamps. A leader that cannot renew within `renewDeadlineMs`
 * stops leading before any other candidate can take over (renewDeadline < leaseDuration).
 */
import type { KubeClient } from "../kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../kube/errors.ts";
import { RESOURCES } from "../kube/resources.ts";
import { errorMessage, type Logger } from "../log.ts";

export interface LeaderElectionOptions {
  readonly kube: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly log: Logger;
  /** Called when this replica becomes the leader; `lost` aborts when it stops being one. */
  readonly onStartedLeading: (lost: AbortSignal) => Promise<void> | void;
  readonly onStoppedLeading: () => Promise<void> | void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** RFC 3339 with microseconds, the MicroTime format the API server expects. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElection {
  readonly #o: Required<
    Omit<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading" | "log" | "kube">
  > &
    LeaderElectionOptions;
  #leading: AbortController | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** The Lease as last seen, and when this process saw its holder's renewal change. */
  #observed: { lease: Lease; record: string; atMs: number } | undefined;
  #lastRenewMs = 0;
  /** Steps down when a renewal has not succeeded in time, even while a request still hangs. */
  #renewDeadline: NodeJS.Timeout | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
  }

  get isLeader(): boolean {
    return this.#leading !== undefined;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops campaigning; a leader steps down and releases the Lease so another takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let held = false;
      try {
        held = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#o.log.warn(
          { lease: this.#o.name, error: errorMessage(err) },
          "leader election: lease not updated",
        );
      }
      const now = Date.now();
      if (held) {
        this.#lastRenewMs = now;
        this.#armRenewDeadline();
        if (!this.#leading) await this.#startLeading();
      } else if (
        this.#leading &&
        (this.#takenByAnother() || now - this.#lastRenewMs > this.#o.renewDeadlineMs)
      ) {
        await this.#stopLeading("lease lost");
      }
      await this.#sleep(this.#nextTryMs(Date.now()));
    }
    if (this.#leading) {
      await this.#stopLeading("shutting down");
      await this.#release().catch((err: unknown) =>
        this.#o.log.warn({ error: errorMessage(err) }, "leader election: lease not released"),
      );
    }
  }

  /** A candidate tries again when the holder's Lease expires, if that is sooner than the retry period. */
  #nextTryMs(now: number): number {
    const observed = this.#observed;
    if (this.#leading || !observed || !this.#takenByAnother()) return this.#o.retryPeriodMs;
    const durationMs = (observed.lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    return Math.max(10, Math.min(this.#o.retryPeriodMs, observed.atMs + durationMs - now + 10));
  }

  #armRenewDeadline(): void {
    clearTimeout(this.#renewDeadline);
    this.#renewDeadline = setTimeout(
      () => void this.#stopLeading("the lease was not renewed within the renew deadline"),
      this.#o.renewDeadlineMs,
    );
    this.#renewDeadline.unref();
  }

  #takenByAnother(): boolean {
    const holder = this.#observed?.lease.spec?.holderIdentity;
    return holder !== undefined && holder !== null && holder !== this.#o.identity;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #startLeading(): Promise<void> {
    this.#leading = new AbortController();
    this.#o.log.info(
      { lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity },
      "became the leader",
    );
    try {
      await this.#o.onStartedLeading(this.#leading.signal);
    } catch (err) {
      this.#o.log.error({ error: errorMessage(err) }, "leader: start failed");
      await this.#stopLeading("start failed");
    }
  }

  async #stopLeading(why: string): Promise<void> {
    const leading = this.#leading;
    if (!leading) return;
    this.#leading = undefined;
    clearTimeout(this.#renewDeadline);
    leading.abort();
    this.#o.log.warn({ lease: `${this.#o.namespace}/${this.#o.name}`, why }, "stopped leading");
    await this.#o.onStoppedLeading();
  }

  /** True when this replica holds the Lease after the call. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, name, identity } = this.#o;
    const now = Date.now();
    const durationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    // A leader renews from the Lease it last wrote: one request per renewal; a conflict re-reads.
    const known = this.#observed?.lease;
    const lease =
      this.#leading && known?.spec?.holderIdentity === identity
        ? known
        : await kube.find<Lease>(RESOURCES.leases, namespace, name);
    if (!lease) {
      try {
        const created = await kube.create<Lease>(RESOURCES.leases, namespace, {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.#observe(created, now);
        return true;
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
    }
    this.#observe(lease, now);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const mine = holder === identity;
    if (!mine && holder !== "") {
      const observedAt = this.#observed?.atMs ?? now;
      const durationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (now < observedAt + durationMs) return false;
    }
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now),
      ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      const written = await kube.replace<Lease>(RESOURCES.leases, namespace, name, {
        metadata: lease.metadata,
        spec: next,
      });
      this.#observe(written, now);
      return true;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) {
        this.#observed = undefined;
        return false;
      }
      throw err;
    }
  }

  /** Remembers when the holder's record last changed, by this process's clock. */
  #observe(lease: Lease, now: number): void {
    const record = JSON.stringify([
      lease.spec?.holderIdentity,
      lease.spec?.renewTime,
      lease.spec?.leaseTransitions,
    ]);
    if (this.#observed?.record !== record) this.#observed = { lease, record, atMs: now };
    else this.#observed = { ...this.#observed, lease };
  }

  /** Gives the Lease up so a standby replica need not wait for it to expire. */
  async #release(): Promise<void> {
    const { kube, namespace, name, identity } = this.#o;
    const lease = await kube.find<Lease>(RESOURCES.leases, namespace, name);
    if (!lease || lease.spec?.holderIdentity !== identity) return;
    await kube.replace(RESOURCES.leases, namespace, name, {
      metadata: lease.metadata,
      spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
    });
  }
}
