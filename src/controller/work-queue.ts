/**
 * A keyed work queue as controllers use them: a key is queued at most once however often it is
 * added, is never handed to two workers at once (added again while in work, it runs once more
 * afterwards), and a key that failed comes back after a per-key exponential backoff that resets
 * when it succeeds. Work that throws has failed.
 */

export interface WorkQueueOptions {
  /** Keys worked on at once. */
  readonly concurrency?: number;
  /** First retry delay of a failing key; doubles per failure up to maxDelayMs. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** What a key's work asks for when it succeeds: nothing, or another look after this many ms. */
export type Outcome = { readonly requeueAfterMs?: number } | undefined;

export class WorkQueue {
  readonly #work: (key: string) => Promise<Outcome>;
  readonly #concurrency: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  /** Keys added while in work: run again once the current run ends. */
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #stopped = false;
  #idle: (() => void)[] = [];

  constructor(work: (key: string) => Promise<Outcome>, options: WorkQueueOptions = {}) {
    this.#work = work;
    this.#concurrency = options.concurrency ?? 4;
    this.#baseDelayMs = options.baseDelayMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  /** Keys waiting, in work, or waiting for a retry. */
  get depth(): number {
    return new Set([...this.#queued, ...this.#active, ...this.#timers.keys()]).size;
  }

  add(key: string): void {
    if (this.#stopped) return;
    const timer = this.#timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#queued.add(key);
    this.#pump();
  }

  /** Adds the key after `ms`, unless it is added sooner. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped || this.#timers.has(key)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Stops handing out keys; resolves once the keys in work are done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#queued.clear();
    this.#dirty.clear();
    if (this.#active.size > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (!this.#stopped && this.#active.size < this.#concurrency && this.#queued.size > 0) {
      const key = this.#queued.values().next().value as string;
      this.#queued.delete(key);
      this.#active.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    let outcome: Outcome;
    let failed = false;
    try {
      outcome = await this.#work(key);
    } catch {
      failed = true;
    }
    this.#active.delete(key);
    if (failed) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      this.addAfter(key, Math.min(this.#baseDelayMs * 2 ** (failures - 1), this.#maxDelayMs));
    } else {
      this.#failures.delete(key);
      if (outcome?.requeueAfterMs !== undefined) this.addAfter(key, outcome.requeueAfterMs);
    }
    if (this.#dirty.delete(key)) this.add(key);
    if (this.#stopped && this.#active.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    this.#pump();
  }
}
