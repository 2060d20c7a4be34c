import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError, RejectedError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { finite, fraction, func, integer, oneOf, or, ordered, positive } from '../core/validate.ts';
import type { Backoff, RandomSource } from '../policies/backoff/backoff.ts';
import { exponentialBackoff } from '../policies/backoff/exponential.ts';
import { BatcherClosedError } from './errors.ts';
import { BatchSizer, type SizeStep } from './sizer.ts';
import type {
  AddOptions,
  Batcher,
  BatcherEvents,
  BatcherOptions,
  BatcherSnapshot,
  BatchKey,
  FlushFunction,
  FlushResult,
  FlushTrigger,
} from './types.ts';

/**
 * Creates an adaptive batcher: items added one by one are written in batches whose size and flush interval
 * follow the sink's latency. Invalid options throw a `ConfigError`.
 *
 * ```ts
 * const batcher = createBatcher({ flush: (rows) => sink.write(rows), maxSize: 1000, maxWait: 200 });
 * await batcher.add(row); // resolves once the batch holding it is committed
 * ```
 */
export function createBatcher<T>(options: BatcherOptions<T>): Batcher<T> {
  return new AdaptiveBatcher(options);
}

type State = 'waiting' | 'buffered' | 'flushing' | 'done';

interface Entry<T> {
  /** Order of admission; `flush()` and `close()` drain the entries below a mark. */
  readonly id: number;
  readonly item: T;
  readonly key: BatchKey;
  readonly addedAt: number;
  /** Failed flushes this item was in. */
  failures: number;
  state: State;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Batch<T> {
  readonly seq: number;
  readonly entries: readonly Entry<T>[];
  /** The keys this batch blocks while under way. */
  readonly keys: readonly BatchKey[];
  readonly size: number;
  readonly epoch: number;
  readonly startedAt: number;
  readonly trigger: FlushTrigger;
}

/** A pending `flush()` or `close()`: resolves once no entry admitted before its mark is left. */
interface Drain {
  readonly below: number;
  remaining: number;
  readonly resolve: () => void;
}

/** Compact the buffer's consumed prefix once it is this long and at least half the array. */
const COMPACT_AT = 1024;
/**
 * Float slack (ms) for due times, so that a timer set for `at - now` that lands a rounding error short of
 * `at` does not re-arm itself for a delay the clock cannot represent.
 */
const EPSILON = 1e-6;

class AdaptiveBatcher<T> implements Batcher<T> {
  readonly name: string;
  readonly #flush: FlushFunction<T>;
  readonly #clock: Clock;
  readonly #events = new Events<BatcherEvents>('batcher');
  readonly #sizer: BatchSizer;
  readonly #maxWait: number;
  readonly #linger: number;
  readonly #concurrency: number;
  readonly #capacity: number;
  readonly #overflow: 'wait' | 'reject';
  readonly #maxWaiting: number;
  readonly #keyOf: ((item: T) => BatchKey) | undefined;
  readonly #attempts: number;
  readonly #backoff: Backoff;
  readonly #retryable: (error: unknown) => boolean;
  readonly #random: RandomSource;

  // FIFO of buffered entries from #head on; entries no longer 'buffered' are skipped and dropped.
  #buffer: Entry<T>[] = [];
  #head = 0;
  #buffered = 0;
  /** Buffered entries whose key is not blocked by a batch under way: those a batch may take now. */
  #eligible = 0;
  readonly #bufferedByKey = new Map<BatchKey, number>();
  readonly #blocked = new Set<BatchKey>();
  #flushing = 0;
  #inflight = 0;

  #waiters: Entry<T>[] = [];
  #waitersHead = 0;
  #waiting = 0;

  #nextId = 0;
  #seq = 0;
  #timer: Timer | undefined;
  #pumping = false;
  /** Entries with an id below this are flushed without waiting for the interval. */
  #drainBelow = 0;
  readonly #drains: Drain[] = [];
  #closed = false;
  #closing: Promise<void> | undefined;

  /** No flush starts before this time: the pause after a failed flush. */
  #resumeAt = Number.NEGATIVE_INFINITY;
  #consecutiveFailures = 0;
  #previousDelay = 0;

  #committed = 0;
  #rejected = 0;
  #flushes = 0;
  #failures = 0;

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#pump();
  };

  constructor(options: BatcherOptions<T>) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('options', options, 'an object with a flush function');
    }
    this.#flush = func('flush', options.flush);
    const name = or(options.name, 'default');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    this.#clock = options.clock ?? systemClock;
    if (typeof this.#clock?.now !== 'function' || typeof this.#clock.setTimer !== 'function') {
      throw new ConfigError('clock', options.clock, 'a Clock (now() and setTimer())');
    }
    const maxSize = integer('maxSize', or(options.maxSize, 1000), 1);
    const minSize = integer('minSize', or(options.minSize, 1), 1);
    ordered('minSize', minSize, 'maxSize', maxSize);
    const initial = integer(
      'initialSize',
      or(options.initialSize, Math.min(maxSize, Math.max(minSize, 16))),
      minSize,
      maxSize,
    );
    this.#maxWait = finite('maxWait', or(options.maxWait, 200), 0);
    this.#linger = finite('linger', or(options.linger, 0.5), 0);
    this.#concurrency = integer('concurrency', or(options.concurrency, 1), 1);
    const capacity = or(options.capacity, (this.#concurrency + 1) * maxSize);
    this.#capacity = integer('capacity', capacity, 1);
    this.#overflow = oneOf('overflow', or(options.overflow, 'wait'), ['wait', 'reject'] as const);
    this.#maxWaiting = integer('maxWaiting', or(options.maxWaiting, 1000), 0);
    if (options.key !== undefined) this.#keyOf = func('key', options.key);
    this.#sizer = new BatchSizer({
      min: minSize,
      max: maxSize,
      initial,
      targetLatency: positive('targetLatency', or(options.targetLatency, 500)),
      tolerance: finite('tolerance', or(options.tolerance, 1.5), 1),
      backoff: fraction('backoff', or(options.backoff, 0.5), { open: true }),
      increase: integer('increase', or(options.increase, Math.max(1, Math.ceil(maxSize / 32))), 1),
      window: integer('window', or(options.window, 20), 1),
    });

    const retry = options.retry ?? {};
    if (typeof retry !== 'object' || retry === null) throw new ConfigError('retry', retry, 'an object');
    const attempts = or(retry.attempts, 4);
    if (!(attempts === Number.POSITIVE_INFINITY || (Number.isInteger(attempts) && attempts >= 1))) {
      throw new ConfigError('retry.attempts', attempts, 'an integer >= 1, or Infinity');
    }
    this.#attempts = attempts;
    this.#backoff = retry.backoff ?? exponentialBackoff({ base: 100, max: 1000 });
    if (typeof this.#backoff?.delay !== 'function') {
      throw new ConfigError('retry.backoff', retry.backoff, 'a Backoff (an object with a delay() method)');
    }
    this.#retryable =
      retry.retryable === undefined ? defaultRetryable : func('retry.retryable', retry.retryable);
    this.#random = retry.random === undefined ? Math.random : func('retry.random', retry.random);
  }

  get size(): number {
    return this.#sizer.size;
  }

  get held(): number {
    return this.#buffered + this.#inflight;
  }

  get full(): boolean {
    return this.#waiting > 0 || this.held >= this.#capacity;
  }

  /** The flush interval: a fraction of the smoothed flush latency, never above `maxWait`. */
  get #interval(): number {
    const latency = this.#sizer.latency;
    return Number.isNaN(latency) ? 0 : Math.min(this.#maxWait, this.#linger * latency);
  }

  add(item: T, options?: AddOptions): Promise<void> {
    const signal = options?.signal;
    if (this.#closed) return this.#refuse(new BatcherClosedError(this.name));
    if (signal?.aborted) return this.#refuse(this.#rejection('aborted'));
    let key: BatchKey;
    try {
      key = this.#keyOf === undefined ? undefined : this.#keyOf(item);
    } catch (error) {
      return this.#refuse(error);
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const entry: Entry<T> = {
      id: this.#nextId++,
      item,
      key,
      addedAt: this.#clock.now(),
      failures: 0,
      state: 'waiting',
      resolve,
      reject,
      signal,
      onAbort: undefined,
    };
    if (this.#waiting === 0 && this.held < this.#capacity) {
      this.#admit(entry);
      // Starting a batch, or the interval timer for a first eligible item; otherwise the timer or the end
      // of a flush under way will come back for this one.
      if (
        this.#flushing < this.#concurrency &&
        (this.#eligible >= this.#sizer.size || this.#timer === undefined)
      ) {
        this.#pump();
      }
    } else if (this.#overflow === 'reject' || this.#waiting >= this.#maxWaiting) {
      return this.#refuse(this.#rejection('queue-full'));
    } else {
      this.#waiters.push(entry);
      this.#waiting++;
    }
    if (signal !== undefined) {
      entry.onAbort = () => this.#abort(entry);
      signal.addEventListener('abort', entry.onAbort, { once: true });
    }
    return promise;
  }

  flush(): Promise<void> {
    // Waiters count too: they are admitted before anything added after this call.
    const pending = this.held + this.#waiting;
    if (pending === 0) return Promise.resolve();
    this.#drainBelow = this.#nextId;
    const done = this.#drain(this.#nextId, pending);
    this.#pump();
    return done;
  }

  setSize(size: number): void {
    if (typeof size !== 'number' || !Number.isFinite(size)) {
      throw new RangeError(`sluice: batch size must be a finite number, got ${String(size)}`);
    }
    this.#sized(this.#sizer.set(size));
    this.#pump();
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    const error = new BatcherClosedError(this.name);
    for (let i = this.#waitersHead; i < this.#waiters.length; i++) {
      const entry = this.#waiters[i]!;
      if (entry.state === 'waiting') this.#settle(entry, false, error);
    }
    this.#waiters = [];
    this.#waitersHead = 0;
    this.#waiting = 0;
    this.#drainBelow = Number.POSITIVE_INFINITY;
    this.#closing = this.held === 0 ? Promise.resolve() : this.#drain(Number.POSITIVE_INFINITY, this.held);
    this.#pump();
    return this.#closing;
  }

  snapshot(): BatcherSnapshot {
    const now = this.#clock.now();
    const oldest = this.#oldest(false);
    const held = this.held;
    return {
      size: this.#sizer.size,
      interval: this.#interval,
      buffered: this.#buffered,
      inflight: this.#inflight,
      flushing: this.#flushing,
      waiting: this.#waiting,
      capacity: this.#capacity,
      utilization: held / this.#capacity,
      oldestWaitMs: oldest === undefined ? 0 : now - oldest.addedAt,
      latencyMs: this.#sizer.latency,
      perItemMs: this.#sizer.perItem,
      baselinePerItemMs: this.#sizer.baseline,
      pausedMs: Math.max(0, this.#resumeAt - now),
      committed: this.#committed,
      rejected: this.#rejected,
      flushes: this.#flushes,
      failures: this.#failures,
    };
  }

  on<K extends keyof BatcherEvents & string>(
    name: K,
    listener: (event: BatcherEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  // --- admission -----------------------------------------------------------------------------------------

  #admit(entry: Entry<T>): void {
    entry.state = 'buffered';
    this.#buffer.push(entry);
    this.#buffered++;
    const key = entry.key;
    if (key === undefined) {
      this.#eligible++;
      return;
    }
    this.#bufferedByKey.set(key, (this.#bufferedByKey.get(key) ?? 0) + 1);
    if (!this.#blocked.has(key)) this.#eligible++;
  }

  /** Admits waiters while there is room, in FIFO order. */
  #admitWaiters(): void {
    while (this.#waiting > 0 && this.held < this.#capacity) {
      const entry = this.#waiters[this.#waitersHead++]!;
      if (entry.state !== 'waiting') continue;
      this.#waiting--;
      this.#admit(entry);
    }
    if (this.#waitersHead > COMPACT_AT && this.#waitersHead * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#waitersHead);
      this.#waitersHead = 0;
    }
  }

  #abort(entry: Entry<T>): void {
    if (entry.state === 'waiting') {
      this.#waiting--;
      this.#settle(entry, false, this.#rejection('aborted'));
      return;
    }
    if (entry.state !== 'buffered') return; // under way: it commits or fails with its batch
    this.#unbuffer(entry);
    this.#settle(entry, false, this.#rejection('aborted'));
    this.#admitWaiters();
    this.#pump();
  }

  /** Takes a buffered entry out of the counts; its slot in the array is skipped later. */
  #unbuffer(entry: Entry<T>): void {
    this.#buffered--;
    const key = entry.key;
    if (key === undefined) {
      this.#eligible--;
      return;
    }
    const left = this.#bufferedByKey.get(key)! - 1;
    if (left === 0) this.#bufferedByKey.delete(key);
    else this.#bufferedByKey.set(key, left);
    if (!this.#blocked.has(key)) this.#eligible--;
  }

  // --- flushing -----------------------------------------------------------------------------------------

  /** Starts every batch that is due while slots are free, then sets the timer for the next one. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      const now = this.#clock.now();
      while (this.#flushing < this.#concurrency && this.#eligible > 0 && now + EPSILON >= this.#resumeAt) {
        const trigger = this.#due(now);
        if (trigger === undefined) break;
        this.#start(trigger, now);
      }
      this.#schedule(now);
    } finally {
      this.#pumping = false;
    }
  }

  #due(now: number): FlushTrigger | undefined {
    if (this.#eligible >= this.#sizer.size) return 'size';
    const oldest = this.#oldest(true)!;
    if (oldest.id < this.#drainBelow) return 'drain';
    return now + EPSILON >= oldest.addedAt + this.#interval ? 'interval' : undefined;
  }

  #schedule(now: number): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    // A flush under way comes back here when it ends; only a free slot needs a timer.
    if (this.#flushing >= this.#concurrency || this.#eligible === 0) return;
    const at = now + EPSILON < this.#resumeAt ? this.#resumeAt : this.#oldest(true)!.addedAt + this.#interval;
    this.#timer = this.#clock.setTimer(this.#onTimer, Math.max(0, at - now));
  }

  /** The first buffered entry in FIFO order (that a batch may take now, with `eligible`). */
  #oldest(eligible: boolean): Entry<T> | undefined {
    const buffer = this.#buffer;
    for (let i = this.#head; i < buffer.length; i++) {
      const entry = buffer[i]!;
      if (entry.state !== 'buffered') {
        if (i === this.#head) this.#head++;
        continue;
      }
      if (!eligible || entry.key === undefined || !this.#blocked.has(entry.key)) return entry;
    }
    return undefined;
  }

  #start(trigger: FlushTrigger, now: number): void {
    const size = this.#sizer.size;
    const buffer = this.#buffer;
    const picked: Entry<T>[] = [];
    let skipped: Entry<T>[] | undefined;
    let i = this.#head;
    // FIFO, skipping keys blocked by batches under way. A key is blocked for all of its buffered items at
    // once, so the items of one key keep their order whatever is skipped.
    while (i < buffer.length && picked.length < size) {
      const entry = buffer[i++]!;
      if (entry.state !== 'buffered') continue;
      if (entry.key !== undefined && this.#blocked.has(entry.key)) (skipped ??= []).push(entry);
      else picked.push(entry);
    }
    if (skipped === undefined) {
      this.#head = i;
      if (this.#head > COMPACT_AT && this.#head * 2 > buffer.length) {
        this.#buffer = buffer.slice(this.#head);
        this.#head = 0;
      }
    } else {
      this.#buffer = skipped.concat(buffer.slice(i));
      this.#head = 0;
    }

    const keys: BatchKey[] = [];
    let retries = 0;
    // Out of the buffer's counts first, while their keys still count them as eligible; then block the keys.
    for (const entry of picked) {
      this.#unbuffer(entry);
      entry.state = 'flushing';
      if (entry.failures > retries) retries = entry.failures;
    }
    for (const entry of picked) {
      if (entry.key !== undefined && !this.#blocked.has(entry.key)) {
        this.#blocked.add(entry.key);
        keys.push(entry.key);
      }
    }
    // The key's items left in the buffer now wait for this batch.
    for (const key of keys) this.#eligible -= this.#bufferedByKey.get(key) ?? 0;

    const batch: Batch<T> = {
      seq: ++this.#seq,
      entries: picked,
      keys,
      size,
      epoch: this.#sizer.epoch,
      startedAt: now,
      trigger,
    };
    this.#flushing++;
    this.#inflight += picked.length;
    this.#flushes++;
    const items = picked.map((e) => e.item);
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.#flush(items, { seq: batch.seq, size, retries }));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => this.#succeeded(batch, value),
      (error: unknown) => this.#failed(batch, error),
    );
  }

  #finish(batch: Batch<T>): number {
    this.#flushing--;
    this.#inflight -= batch.entries.length;
    for (const key of batch.keys) {
      this.#blocked.delete(key);
      this.#eligible += this.#bufferedByKey.get(key) ?? 0;
    }
    return this.#clock.now() - batch.startedAt;
  }

  #succeeded(batch: Batch<T>, value: unknown): void {
    const latency = this.#finish(batch);
    const reported = (value as FlushResult | null | undefined)?.failed;
    const failed = reported instanceof Map ? reported : undefined;
    let rejected = 0;
    batch.entries.forEach((entry, index) => {
      if (failed?.has(index)) {
        rejected++;
        this.#settle(entry, false, failed.get(index));
      } else {
        this.#committed++;
        this.#settle(entry, true, undefined);
      }
    });
    this.#consecutiveFailures = 0;
    this.#previousDelay = 0;
    const n = batch.entries.length;
    this.#sized(this.#sizer.success(n, latency, n >= batch.size, batch.epoch));
    if (this.#events.wants('flush')) {
      this.#events.emit('flush', {
        batcher: this.name,
        at: this.#clock.now(),
        seq: batch.seq,
        items: n,
        latency,
        trigger: batch.trigger,
        outcome: 'success',
        rejected,
        retrying: 0,
      });
    }
    this.#admitWaiters();
    this.#pump();
  }

  #failed(batch: Batch<T>, error: unknown): void {
    const latency = this.#finish(batch);
    this.#failures++;
    let retryable = false;
    try {
      retryable = this.#retryable(error);
    } catch {
      retryable = false;
    }
    const again: Entry<T>[] = [];
    let rejected = 0;
    for (const entry of batch.entries) {
      entry.failures++;
      if (retryable && entry.failures < this.#attempts) {
        again.push(entry);
      } else {
        rejected++;
        this.#settle(entry, false, error);
      }
    }
    if (again.length > 0) {
      // Back at the front: older than anything buffered of their keys, so per-key order holds.
      const rest = this.#buffer.slice(this.#head);
      this.#buffer = [];
      this.#head = 0;
      for (const entry of again) this.#admit(entry);
      for (const entry of rest) this.#buffer.push(entry);
    }
    if (retryable) {
      this.#consecutiveFailures++;
      const delay = Math.max(
        0,
        this.#backoff.delay(this.#consecutiveFailures, this.#previousDelay, this.#random),
      );
      this.#previousDelay = delay;
      this.#resumeAt = Math.max(this.#resumeAt, this.#clock.now() + delay);
      this.#sized(this.#sizer.failure(batch.entries.length, batch.epoch));
    }
    if (this.#events.wants('flush')) {
      this.#events.emit('flush', {
        batcher: this.name,
        at: this.#clock.now(),
        seq: batch.seq,
        items: batch.entries.length,
        latency,
        trigger: batch.trigger,
        outcome: 'failure',
        rejected,
        retrying: again.length,
        error,
      });
    }
    this.#admitWaiters();
    this.#pump();
  }

  #sized(step: SizeStep | undefined): void {
    if (step === undefined || !this.#events.wants('size')) return;
    this.#events.emit('size', { batcher: this.name, at: this.#clock.now(), ...step });
  }

  // --- settling -----------------------------------------------------------------------------------------

  /** Resolves or rejects an entry, exactly once. */
  #settle(entry: Entry<T>, ok: boolean, error: unknown): void {
    const flushed = entry.state === 'flushing';
    entry.state = 'done';
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (!ok) this.#rejected++;
    for (let i = 0; i < this.#drains.length; ) {
      const drain = this.#drains[i]!;
      if (entry.id < drain.below && --drain.remaining === 0) {
        this.#drains.splice(i, 1);
        drain.resolve();
      } else i++;
    }
    if (ok) entry.resolve();
    else {
      // A failed flush is reported by its `flush` event; `reject` is for items refused before any flush.
      if (!flushed && this.#events.wants('reject')) {
        this.#events.emit('reject', { batcher: this.name, at: this.#clock.now(), error });
      }
      entry.reject(error);
    }
  }

  /** Resolves once `count` held entries admitted before `below` have settled. */
  #drain(below: number, count: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#drains.push({ below, remaining: count, resolve });
    return promise;
  }

  #refuse(error: unknown): Promise<void> {
    this.#rejected++;
    if (this.#events.wants('reject')) {
      this.#events.emit('reject', { batcher: this.name, at: this.#clock.now(), error });
    }
    return Promise.reject(error);
  }

  #rejection(reason: 'queue-full' | 'aborted'): RejectedError {
    const latency = this.#sizer.latency;
    return new RejectedError(reason, {
      limit: this.#capacity,
      inflight: this.held,
      queued: this.#waiting,
      retryAfterMs: Number.isNaN(latency) ? 0 : latency,
    });
  }
}

function defaultRetryable(error: unknown): boolean {
  return !(
    typeof error === 'object' &&
    error !== null &&
    (error as { retryable?: unknown }).retryable === false
  );
}
