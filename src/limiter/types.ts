import type { Clock } from '../core/clock.ts';
import type { RejectedError, RejectReason } from '../core/errors.ts';
import type { Limit, LimitChange } from '../limits/limit.ts';

/**
 * Criticality levels, most important first (after Google SRE's criticality). A numeric priority is an
 * index into the limiter's levels: 0 is the most important.
 */
export const criticality = ['critical', 'high', 'normal', 'low', 'sheddable'] as const;
export type Criticality = (typeof criticality)[number];
/** A criticality name, a level name given in `priorities`, or a level index (0 is the most important). */
export type Priority = Criticality | (string & {}) | number;

/** How a permit ended. */
export type Outcome =
  /** The work completed; its latency is a sample for the limit algorithm. */
  | 'success'
  /** The work hit an overload signal (timeout, 503, 429): the limit algorithm backs off. */
  | 'dropped'
  /** A fast failure unrelated to load (a 404, a validation error): no sample is recorded. */
  | 'ignore';

/** Maps an error thrown by guarded work to the outcome the limit algorithm should learn from. */
export type ErrorClassifier = (error: unknown) => Outcome;

export interface AcquireOptions {
  /** Criticality name or level index; default `"normal"` (or the middle level). */
  readonly priority?: Priority;
  /** Cost of the request in permits; default 1. Must be > 0 and <= the limit's max. */
  readonly weight?: number;
  /** Partition to charge; default the limiter's default partition. */
  readonly partition?: string;
  /** Fairness key (tenant, client): within a priority, keys are served round-robin. */
  readonly key?: string;
  /** Absolute deadline on the limiter's clock (ms). The request is rejected once it cannot start in time. */
  readonly deadline?: number;
  /** Longest time to wait in the queue (ms); overrides the queue's `timeout` for this request. */
  readonly timeout?: number;
  /** Aborts the wait (the request is rejected with reason `"aborted"`). */
  readonly signal?: AbortSignal;
  /**
   * `tryAcquire` only: publish no `reject` event when no permit is free now. For a caller that goes on to
   * wait with `acquire()`, whose own outcome is what gets reported; otherwise every request that queued
   * would also count as a rejection. Default false.
   */
  readonly orWait?: boolean;
  /**
   * `tryAcquire` only: `false` leaves the call untimed, for a caller that samples its own timing at high
   * request rates. The limiter reads no clock for it (`startedAt` is NaN) and its limit learns from it only
   * if `success(rtt)` is given the round trip. Default true.
   */
  readonly timed?: boolean;
}

/** The right to run one unit of work. Released exactly once; later releases are ignored. */
export interface Permit {
  /**
   * Clock time when the permit was granted (ms); NaN when the limiter did not time the call (asked not to
   * with `timed: false`, or a fixed limit, which times only a sample of calls).
   */
  readonly startedAt: number;
  /** Weight charged. */
  readonly weight: number;
  /** Priority level index. */
  readonly priority: number;
  /** Partition charged. */
  readonly partition: string;
  /** True once released. */
  readonly released: boolean;
  /**
   * Clock time of the release (ms), when the limiter read its clock for it (to time a sample); undefined
   * before the release and when it did not. Lets a caller that also times the work skip a clock read.
   */
  readonly endedAt?: number | undefined;
  /** Work done; records the latency since `startedAt` (or `rtt` if given). */
  success(rtt?: number): void;
  /** Overload signal; the algorithm backs off. */
  dropped(): void;
  /** Released without a sample. */
  ignore(): void;
  /** Releases with the given outcome. */
  release(outcome: Outcome, rtt?: number): void;
}

export type DropPolicy =
  /** A full queue rejects the newcomer. */
  | 'newest'
  /** A full queue evicts its longest-waiting entry to make room. */
  | 'oldest'
  /** A full queue evicts its least important (then newest) entry, if less important than the newcomer. */
  | 'priority';

export interface QueueOptions {
  /** Most waiters held (sum across priorities); 0 disables queueing. Default 1000. */
  readonly size?: number;
  /** Longest any waiter waits (ms); `Infinity` for no bound beyond the CoDel-style target. Default 5000. */
  readonly timeout?: number;
  /**
   * Target waiting time under a standing queue (ms), after CoDel and Facebook's adaptive LIFO: when the queue
   * has not been empty for a whole `interval`, waiters older than the target are shed (they would mostly
   * miss their callers' deadlines anyway) and, in adaptive order, the newest are served first. `"auto"`
   * uses about one smoothed service time (RTT of successful calls), within [5 ms, timeout]. `false` disables
   * it. Default `"auto"`.
   */
  readonly target?: number | 'auto' | false;
  /**
   * How long the queue must stay non-empty to count as standing (ms); also the longest a waiter waits
   * while the queue is young (a waiter that has waited an interval proves the queue is standing). A queue
   * emptied by shedding rather than by service still counts as standing. `"auto"` is two targets.
   * Default `"auto"`.
   */
  readonly interval?: number | 'auto';
  /** Service order: `"fifo"`, `"lifo"`, or `"adaptive"` (LIFO only while a standing queue exists). Default adaptive. */
  readonly order?: 'fifo' | 'lifo' | 'adaptive';
  /** What a full queue drops. Default `"priority"`. */
  readonly drop?: DropPolicy;
}

export interface PartitionOptions {
  /** Guaranteed fraction of the limit, in [0, 1]. Shares across partitions must sum to <= 1. */
  readonly share: number;
  /** Most this partition may hold, borrowing what others leave unused, as a fraction of the limit. Default 1. */
  readonly maxShare?: number;
}

export interface LimiterOptions {
  /** Name used in events, metrics and error messages. Default `"default"`. */
  readonly name?: string;
  /** Limit algorithm, or a fixed number. Default `defaultLimit()`: `windowed(gradient2(), { percentile: 0.5 })`. */
  readonly limit?: Limit | number;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Queue settings, or `false` for no queue (reject at the limit). */
  readonly queue?: QueueOptions | false;
  /** Priority levels: a count (levels 0..n-1) or names, most important first. Default the criticality names. */
  readonly priorities?: number | readonly string[];
  /**
   * Partitions with guaranteed shares. A partition may borrow capacity another is not using; the total in
   * flight never exceeds the limit. Requests without a partition go to the first one.
   */
  readonly partitions?: Readonly<Record<string, PartitionOptions>>;
  /** Classifies errors thrown inside `run()`. Default: timeouts, 429/503 and rejections are drops; aborts and others ignored. */
  readonly classify?: ErrorClassifier;
}

export interface LimiterSnapshot {
  readonly limit: number;
  readonly inflight: number;
  readonly queued: number;
  /** Age of the oldest waiter (ms), 0 if none. */
  readonly oldestWaitMs: number;
  /** True while a standing queue exists (service order is LIFO in adaptive mode). */
  readonly standingQueue: boolean;
  readonly partitions: Readonly<
    Record<string, { readonly inflight: number; readonly guaranteed: number; readonly queued: number }>
  >;
}

export interface LimiterEvents {
  /** The limit changed. */
  readonly limit: LimitChange & {
    readonly limiter: string;
    readonly at: number;
    readonly inflight: number;
    readonly queued: number;
  };
  /** A request was refused (immediately, or after waiting). */
  readonly reject: {
    readonly limiter: string;
    readonly at: number;
    readonly reason: RejectReason;
    readonly error: RejectedError;
  };
  /** A waiter was dropped from the queue (evicted, expired, shed by CoDel, aborted). Also emitted as `reject`. */
  readonly drop: {
    readonly limiter: string;
    readonly at: number;
    readonly reason: RejectReason;
    readonly priority: number;
    readonly waitedMs: number;
  };
  /** A waiter left the queue with a permit (a request admitted without waiting emits nothing). */
  readonly admit: {
    readonly limiter: string;
    readonly at: number;
    readonly priority: number;
    readonly waitedMs: number;
  };
  /** A permit was released. */
  readonly release: {
    readonly limiter: string;
    readonly at: number;
    readonly outcome: Outcome;
    readonly rtt: number;
    readonly inflight: number;
  };
}

export interface RunContext {
  /** The caller's signal (if any), to pass to the downstream. */
  readonly signal: AbortSignal | undefined;
  /** The permit held for this call. */
  readonly permit: Permit;
}

export interface Limiter {
  readonly name: string;
  /** Current limit. */
  readonly limit: number;
  /** Weighted permits held. */
  readonly inflight: number;
  /** Waiters in the queue. */
  readonly queued: number;
  /** A permit now, or `undefined` without waiting. Synchronous and allocation-light. */
  tryAcquire(options?: AcquireOptions): Permit | undefined;
  /** A permit now, or after waiting in the queue; rejects with a `RejectedError`. */
  acquire(options?: AcquireOptions): Promise<Permit>;
  /** Acquires, runs `fn`, records its outcome (timed), releases. */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: AcquireOptions): Promise<T>;
  /** Returns `fn` guarded by `run`. */
  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options?: AcquireOptions,
  ): (...args: A) => Promise<T>;
  /** Current state for metrics and dashboards. */
  snapshot(): LimiterSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:limiter:<event>`). */
  on<K extends keyof LimiterEvents & string>(
    name: K,
    listener: (event: LimiterEvents[K]) => void,
  ): () => void;
}
