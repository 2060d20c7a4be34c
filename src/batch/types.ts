import type { Clock } from '../core/clock.ts';
import type { RandomSource } from '../policies/backoff/backoff.ts';
import type { Backoff } from '../policies/backoff/index.ts';

/** Groups items whose writes must keep their order: a string or number, or `undefined` for none. */
export type BatchKey = string | number | undefined;

/** What `flush` is told about the batch it writes. */
export interface FlushContext {
  /** 1, 2, 3, ... per batcher, counting every flush (a retry is a new flush). */
  readonly seq: number;
  /** The target size when the batch was formed (the batch may be smaller). */
  readonly size: number;
  /** Most failed flushes any item of the batch has been through (0 on a first try). */
  readonly retries: number;
}

/**
 * What a flush may resolve with when some items could not be written and must not be retried (poison
 * messages: a constraint violation, data the sink refuses). The other items count as committed.
 */
export interface FlushResult {
  /** Index in the batch -> the error that item's `add()` rejects with. */
  readonly failed?: ReadonlyMap<number, unknown>;
}

/**
 * Writes one batch. Resolving commits every item, but those in the `failed` map when it resolves with a
 * `FlushResult` (any other value is ignored); rejecting fails them all.
 */
export type FlushFunction<T> = (items: readonly T[], context: FlushContext) => Promise<unknown>;

export interface BatchRetryOptions {
  /**
   * Most flushes an item goes through, the first included (an integer >= 1, or `Infinity`). An item whose
   * last allowed flush fails has its `add()` rejected with that flush's error. Default 4.
   */
  readonly attempts?: number;
  /**
   * Pause after a failed flush before any flush starts again, by the count of consecutive failures.
   * Default `exponentialBackoff({ base: 100, max: 1000 })`.
   */
  readonly backoff?: Backoff;
  /**
   * Whether a flush error is worth retrying. Default: every error except those with `retryable: false`
   * (as the PostgreSQL sink's `PostgresWriteError` has for kinds `"poison"` and `"fatal"`).
   */
  readonly retryable?: (error: unknown) => boolean;
  /** Random source for a jittered backoff. Default `Math.random`. */
  readonly random?: RandomSource;
}

export interface BatcherOptions<T> {
  /** Writes a batch; see `FlushFunction`. Required. */
  readonly flush: FlushFunction<T>;
  /** Name used in events and error messages. Default `"default"`. */
  readonly name?: string;
  /** Largest batch (items). Default 1000. */
  readonly maxSize?: number;
  /** Smallest target size adaptation may reach (items). Default 1. */
  readonly minSize?: number;
  /** Target size to start from. Default `min(maxSize, max(minSize, 16))`. */
  readonly initialSize?: number;
  /**
   * Longest an item waits for its batch to start while a flush slot is free (ms): the ceiling of the
   * adaptive flush interval. While every slot is busy items wait for one too, so an item's batch starts
   * within `maxWait` plus the time the flushes ahead of it take. Default 200.
   */
  readonly maxWait?: number;
  /**
   * The flush interval as a fraction of the smoothed flush latency: how long a partial batch lingers for
   * more items while a slot is free. A slower sink gets fewer, larger statements; a fast one, prompt small
   * ones. 0 flushes as soon as a slot is free. Default 0.5.
   */
  readonly linger?: number;
  /**
   * Flush latency the size adapts to (ms): a successful flush slower than this shrinks the target size to
   * what the sink's fitted cost (fixed per statement plus per item) says meets it, so the time items are
   * held stays near it; growth stops there too. When the fixed cost alone exceeds it, size cannot help and
   * the size is not cut. Default 500.
   */
  readonly targetLatency?: number;
  /**
   * How far the per-item cost of a full batch may rise over that of the previous full batch (a ratio >= 1)
   * and still count as holding; only then does the size grow. Default 1.5.
   */
  readonly tolerance?: number;
  /** Factor in (0, 1) the target size is multiplied by on a failed flush. Default 0.5. */
  readonly backoff?: number;
  /**
   * Items added to the target size after a full batch whose per-item cost held, once slow start is over.
   * Default `max(1, ceil(maxSize / 32))`.
   */
  readonly increase?: number;
  /** Flushes the cost model is fitted over (an integer >= 1). Default 20. */
  readonly window?: number;
  /** Flushes under way at once (an integer >= 1). Default 1. */
  readonly concurrency?: number;
  /**
   * Most items held: buffered plus being flushed. An `add()` beyond it waits for room in FIFO order
   * (`overflow: "wait"`) or is rejected at once with a `RejectedError` of reason `"queue-full"`
   * (`overflow: "reject"`). Default `(concurrency + 1) * maxSize`.
   */
  readonly capacity?: number;
  /** What `add()` does when the batcher holds `capacity` items. Default `"wait"`. */
  readonly overflow?: 'wait' | 'reject';
  /**
   * Most `add()` calls waiting for room; beyond it they are rejected (reason `"queue-full"`), so memory
   * stays bounded by `capacity + maxWaiting` items. Default 1000.
   */
  readonly maxWaiting?: number;
  /**
   * Per-key ordering: items with the same key are flushed in the order they were added. A batch holding a
   * key's items blocks that key's later items until it commits, and a failed one until its retry commits
   * or its items are rejected. Items with an `undefined` key are not ordered. Default none.
   */
  readonly key?: (item: T) => BatchKey;
  /** Retries of failed flushes. */
  readonly retry?: BatchRetryOptions;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export interface AddOptions {
  /**
   * Withdraws the item while it waits for room or for its batch (rejected with reason `"aborted"`). An item
   * already being flushed is not withdrawn.
   */
  readonly signal?: AbortSignal;
}

/** Why a batch was started. */
export type FlushTrigger =
  /** Enough items for the target size. */
  | 'size'
  /** The oldest item waited the flush interval. */
  | 'interval'
  /** `flush()` or `close()` asked for everything buffered. */
  | 'drain';

/** The rule behind a change of the target size. */
export type SizeRule =
  /** A full batch whose per-item cost held, in slow start: doubled. */
  | 'slow-start'
  /** A full batch whose per-item cost held: additive increase. */
  | 'increase'
  /** A flush slower than the target latency: cut in proportion. */
  | 'latency'
  /** A failed flush: multiplicative cut. */
  | 'failure'
  /** `setSize()` was called. */
  | 'manual';

/** One explained change of the target size. */
export interface SizeChange {
  readonly batcher: string;
  readonly at: number;
  readonly previous: number;
  readonly size: number;
  readonly rule: SizeRule;
  /**
   * What the decision was based on: `items` and `latency` of the flush, `perItem` (ms) and `baseline`
   * (lowest per-item cost in the window) for increases, `target` for latency cuts, `backoff` for cuts.
   */
  readonly signals: Readonly<Record<string, number>>;
}

export interface BatcherEvents {
  /** A flush ended (on `sluice:batcher:flush`). */
  readonly flush: {
    readonly batcher: string;
    readonly at: number;
    readonly seq: number;
    readonly items: number;
    readonly latency: number;
    readonly trigger: FlushTrigger;
    readonly outcome: 'success' | 'failure';
    /** Items the flush reported as failed (success), or that were rejected (failure). */
    readonly rejected: number;
    /** Items put back for a retry (failure). */
    readonly retrying: number;
    readonly error?: unknown;
  };
  /** The target size changed (on `sluice:batcher:size`). */
  readonly size: SizeChange;
  /**
   * An `add()` was refused before its item was flushed: no room, aborted, closed, or its `key` threw
   * (`sluice:batcher:reject`).
   */
  readonly reject: {
    readonly batcher: string;
    readonly at: number;
    readonly error: unknown;
  };
}

/**
 * State for metrics and dashboards. Every field is a number, so `gaugeCollector('batcher', () =>
 * batcher.snapshot())` makes it a collector for the autoscaler (NaN readings are left out). A type rather
 * than an interface, so that it is assignable to `Readings`.
 */
export type BatcherSnapshot = {
  /** Target batch size now. */
  readonly size: number;
  /** Flush interval now (ms). */
  readonly interval: number;
  /** Items waiting for a batch, retries included. */
  readonly buffered: number;
  /** Items in flushes under way. */
  readonly inflight: number;
  /** Flushes under way. */
  readonly flushing: number;
  /** `add()` calls waiting for room. */
  readonly waiting: number;
  /** Most items held (buffered plus in flight). */
  readonly capacity: number;
  /** `(buffered + inflight) / capacity`. */
  readonly utilization: number;
  /** How long the oldest buffered item has waited (ms), 0 if none. */
  readonly oldestWaitMs: number;
  /** Smoothed latency of successful flushes (ms); NaN before the first. */
  readonly latencyMs: number;
  /** Per-item cost of the last successful flush (ms); NaN before the first. */
  readonly perItemMs: number;
  /** Lowest per-item cost in the window (ms); NaN before the first flush. */
  readonly baselinePerItemMs: number;
  /** Milliseconds until flushing resumes after a failure, 0 if not paused. */
  readonly pausedMs: number;
  /** Items committed since creation. */
  readonly committed: number;
  /** Items whose `add()` rejected since creation (failed flushes, overflow, aborts, close). */
  readonly rejected: number;
  /** Flushes since creation, and how many of them failed. */
  readonly flushes: number;
  readonly failures: number;
};

export interface Batcher<T> {
  readonly name: string;
  /** Target batch size now. */
  readonly size: number;
  /** Items held (buffered plus in flight). */
  readonly held: number;
  /** True when an `add()` now would wait for room (or be rejected with `overflow: "reject"`). */
  readonly full: boolean;
  /**
   * Adds an item. Resolves once the batch holding it is committed; rejects with the flush's error once
   * its retries are spent (or at once for an error that is not retryable), with the error `flush`
   * reported for it, with a `RejectedError` when there is no room (`"queue-full"`) or the signal aborts
   * (`"aborted"`), with a `BatcherClosedError` after `close()`, or with what `key` threw.
   */
  add(item: T, options?: AddOptions): Promise<void>;
  /** Starts batches for everything buffered now, without waiting for the interval; resolves when they settle. */
  flush(): Promise<void>;
  /** Sets the target size (clamped to [minSize, maxSize]); adaptation continues from it. */
  setSize(size: number): void;
  /**
   * Refuses new items, flushes what is held (retries included), and resolves once every item has settled.
   * Waiting `add()` calls are rejected. Idempotent.
   */
  close(): Promise<void>;
  snapshot(): BatcherSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:batcher:<event>`). */
  on<K extends keyof BatcherEvents & string>(
    name: K,
    listener: (event: BatcherEvents[K]) => void,
  ): () => void;
}
