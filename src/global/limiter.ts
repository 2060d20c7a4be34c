import { type Clock, sleep, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError, RejectedError, type RejectReason } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { fraction, func, integer, nonNegative, oneOf, or, positive } from '../core/validate.ts';
import type { Limit } from '../limits/limit.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from '../policies/policy.ts';
import {
  type BucketSpec,
  type GlobalStore,
  type LeaseGrant,
  StoreUnavailableError,
  TokenBucket,
} from './store.ts';

/**
 * What an instance does while the global store is slow or gone:
 * - `local-share`: enforces its share of the limit alone (the limit, or the rate and burst, times `share`):
 *   the instances together stay within the limit while none can see the others;
 * - `open`: admits everything (the store protects a downstream that is not critical);
 * - `closed`: refuses everything (exceeding the limit costs more than refusing work).
 */
export type FallbackMode = 'local-share' | 'open' | 'closed';

export interface GlobalFallbackOptions {
  /** Default `"local-share"`. */
  readonly mode?: FallbackMode;
  /** This instance's fraction of the limit when alone, in (0, 1]. Default `1 / instances`. */
  readonly share?: number;
  /** Instances expected to share the limit (an integer >= 1); gives the default `share`. */
  readonly instances?: number;
}

export interface GlobalLimiterOptions {
  /** The shared store: `memoryStore()`, or `redisStore()` from `sluice/redis`. */
  readonly store: GlobalStore;
  /** The limit's key in the store; every instance that shares the limit uses the same key. */
  readonly key: string;
  /**
   * Concurrency: most permits held at once across every instance, as leases in the store. A number
   * (integer >= 1), or a `Limit` whose `current` is read at each acquire (e.g. `pressureCap(...)`).
   * Give `limit` or `rate`, not both (compose two global limiters in a `guard()` for both).
   */
  readonly limit?: number | Limit;
  /** Rate: permits per second across every instance, from a token bucket in the store (> 0). */
  readonly rate?: number;
  /** Bucket capacity for `rate`: the most permits granted at once after an idle spell. Default `max(1, rate)`. */
  readonly burst?: number;
  /**
   * Life of a lease (ms) without a heartbeat: how long the permits of an instance that died stay counted
   * before another instance reclaims them. Default 10 000.
   */
  readonly leaseTtl?: number;
  /** Time between renewals of a held lease (ms), < `leaseTtl`. Default `leaseTtl / 3`. */
  readonly heartbeat?: number;
  /** Longest a store operation may take (ms) before the instance falls back. Default 100. */
  readonly timeout?: number;
  /** Time between probes of the store while on the fallback (ms); the first answer rejoins. Default 1000. */
  readonly probeInterval?: number;
  /**
   * Longest an acquire waits for a token or a lease (ms) before it is refused; 0 refuses at once. A waiter
   * retries when the store says a token will be there, and at least every `pollInterval` for a lease.
   * Default 0: waiting belongs to a local limiter's queue in front.
   */
  readonly wait?: number;
  /** Longest gap between two attempts of a waiting acquire for a lease (ms). Default 50. */
  readonly pollInterval?: number;
  /** What this instance does while the store is unavailable. `share` or `instances` is required for `local-share`. */
  readonly fallback: GlobalFallbackOptions;
  /** Name in events and errors. Default the key. */
  readonly name?: string;
  /** Time source for timeouts, heartbeats, probes and the local fallback. Default the system clock. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1), to spread retries. Default `Math.random`. */
  readonly random?: () => number;
}

export interface GlobalAcquireOptions {
  /** Tokens to take, for a `rate` limiter (> 0, <= burst). Default 1. */
  readonly cost?: number;
  /** Absolute deadline on the limiter's clock (ms): the wait ends there. */
  readonly deadline?: number;
  /** Longest wait for this call (ms); overrides the `wait` option. */
  readonly wait?: number;
  /** Aborts the wait (rejected with reason `"aborted"`). */
  readonly signal?: AbortSignal;
}

/** Whether the limit is enforced through the shared store or by this instance alone. */
export type GlobalMode = 'global' | 'fallback';

/** The right to run one unit of work under a global limit. */
export interface GlobalPermit {
  /** `"global"` from the store; `"local"` from this instance's share; `"open"` granted by a fail-open fallback. */
  readonly source: 'global' | 'local' | 'open';
  /** The lease in the store, for a global concurrency permit. */
  readonly lease: string | undefined;
  readonly released: boolean;
  /**
   * True once a heartbeat found the lease gone from the store: it expired (the process stalled longer than
   * the lease's life) and another instance may have taken its place.
   */
  readonly lost: boolean;
  /**
   * Gives the permit back: at once here, and in the store in the background (a failure there leaves the
   * lease to expire). Idempotent.
   */
  release(): void;
}

export interface GlobalLimiterSnapshot {
  readonly mode: GlobalMode;
  /** Permits this instance holds (concurrency limiters). */
  readonly inflight: number;
  /** The global limit (concurrency) or rate (permits per second). */
  readonly limit: number;
  /** What this instance enforces alone on the fallback: its share of the limit or rate. */
  readonly localLimit: number;
}

export interface GlobalLimiterEvents {
  /** The limiter left the store for its fallback, or rejoined it. Channel `sluice:global:mode`. */
  readonly mode: {
    readonly limiter: string;
    readonly at: number;
    readonly mode: GlobalMode;
    readonly previous: GlobalMode;
    readonly fallback: FallbackMode;
    /** What the instance enforces alone while on the fallback (see `GlobalLimiterSnapshot.localLimit`). */
    readonly localLimit: number;
    /** Why it fell back; absent on rejoining. */
    readonly error?: StoreUnavailableError;
  };
  /** An acquire was refused. Channel `sluice:global:reject`. */
  readonly reject: {
    readonly limiter: string;
    readonly at: number;
    readonly mode: GlobalMode;
    readonly reason: RejectReason;
    readonly error: RejectedError;
  };
  /** An acquire removed leases that expired unreleased (instances that died). Channel `sluice:global:reclaim`. */
  readonly reclaim: { readonly limiter: string; readonly at: number; readonly reclaimed: number };
  /** A heartbeat found a held lease gone from the store. Channel `sluice:global:lost`. */
  readonly lost: { readonly limiter: string; readonly at: number; readonly lease: string };
}

export interface GlobalLimiter extends Policy {
  readonly name: string;
  readonly key: string;
  readonly mode: GlobalMode;
  /** Permits this instance holds (concurrency limiters; always 0 for a rate). */
  readonly inflight: number;
  /**
   * A permit from the store, or from the fallback while the store is unavailable. Rejects with a
   * `RejectedError`: reason `"limit"` at the limit (with `retryAfterMs`), `"shed"` on a closed fallback,
   * `"deadline"` or `"aborted"` while waiting.
   */
  acquire(options?: GlobalAcquireOptions): Promise<GlobalPermit>;
  /** Acquires with the call's deadline and signal, runs `fn`, releases. */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T>;
  snapshot(): GlobalLimiterSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:global:<event>`); returns an unsubscribe function. */
  on<K extends keyof GlobalLimiterEvents & string>(
    name: K,
    listener: (event: GlobalLimiterEvents[K]) => void,
  ): () => void;
  /** Stops the probe and the heartbeats and releases the leases still held. */
  close(): Promise<void>;
}

/**
 * A limit shared by every instance of a service, kept in a global store (Redis in production): a
 * concurrency limit enforced with expiring leases, or a rate enforced with a token bucket.
 *
 * Each acquire is one atomic store operation, bounded by `timeout`. When one fails or times out, the
 * instance falls back at once (see `FallbackMode`) and probes the store every `probeInterval`; the first
 * answer rejoins it. Both switches emit `mode`. While on the fallback, permits held count against the local
 * share whether they came from the store or not, so the instance never holds more than its share.
 *
 * A lease lives `leaseTtl` from its grant and is renewed every `heartbeat` while held, so the permits of an
 * instance that dies are reclaimed by the next acquire after they expire. Expiry is measured on the
 * store's time, never on the instances' clocks. A lease whose acquire timed out but was granted late is
 * released when the late answer arrives.
 *
 * Across the switches (`local-share`):
 * - Rejoining: the instances rejoin at their own probes, within one `probeInterval` of each other. For one
 *   probe interval after rejoining an instance keeps to its share as well as to the store's limit, so
 *   those still on their fallback (whose permits the store cannot see) and those back on the store stay
 *   within the limit between them. Measured with 3 processes on a limit of 6 and Redis stopped and
 *   restarted: at most 6 held at once throughout, rejoining included.
 * - Falling back: each instance keeps the permits it holds and grants no more until it is below its share.
 *   Until permits taken from the store before the switch end, the instances may together hold more than
 *   the limit when they held it unevenly (one instance held most of it); at most the limit plus the local
 *   shares of the others.
 * - A partition that cuts off only some instances lets those use their share while the others use the
 *   store's whole limit: local-share trades exactness for availability; choose `closed` to refuse instead.
 */
export function globalLimiter(options: GlobalLimiterOptions): GlobalLimiter {
  return new Global(options);
}

type Kind =
  | { readonly type: 'leases'; readonly limit: Limit | number }
  | ({ readonly type: 'rate' } & BucketSpec);

class Global implements GlobalLimiter {
  readonly name: string;
  readonly key: string;
  readonly #store: GlobalStore;
  readonly #kind: Kind;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #leaseTtl: number;
  readonly #heartbeat: number;
  readonly #timeout: number;
  readonly #probeInterval: number;
  readonly #wait: number;
  readonly #pollInterval: number;
  readonly #fallback: FallbackMode;
  readonly #share: number;
  readonly #events = new Events<GlobalLimiterEvents>('global');
  readonly #held = new Set<Lease>();
  #mode: GlobalMode = 'global';
  #inflight = 0;
  /** The local bucket of a rate on its fallback, and through the grace after rejoining. */
  #local: TokenBucket | undefined = undefined;
  /** Store acquires under way. */
  #pending = 0;
  /** Until then (after rejoining), the instance keeps to its share as well as to the store's limit. */
  #graceUntil = Number.NEGATIVE_INFINITY;
  #probe: Timer | undefined = undefined;
  #closed = false;

  constructor(o: GlobalLimiterOptions) {
    if (typeof o !== 'object' || o === null) throw new ConfigError('options', o, 'an options object');
    const store = o.store;
    if (
      typeof store !== 'object' ||
      store === null ||
      typeof store.take !== 'function' ||
      typeof store.acquire !== 'function'
    ) {
      throw new ConfigError('store', store, 'a GlobalStore (memoryStore() or redisStore())');
    }
    this.#store = store;
    if (typeof o.key !== 'string' || o.key === '') throw new ConfigError('key', o.key, 'a non-empty string');
    this.key = o.key;
    const name = or(o.name, o.key);
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    this.#kind = kindOf(o);
    const clock = or(o.clock, systemClock);
    if (typeof clock !== 'object' || clock === null || typeof clock.setTimer !== 'function') {
      throw new ConfigError('clock', clock, 'a Clock');
    }
    this.#clock = clock;
    this.#random = func('random', or(o.random, Math.random));
    this.#leaseTtl = positive('leaseTtl', or(o.leaseTtl, 10_000));
    this.#heartbeat = positive('heartbeat', or(o.heartbeat, this.#leaseTtl / 3));
    if (!(this.#heartbeat < this.#leaseTtl)) {
      throw new ConfigError('heartbeat', this.#heartbeat, `< leaseTtl (${this.#leaseTtl})`);
    }
    this.#timeout = positive('timeout', or(o.timeout, 100));
    this.#probeInterval = positive('probeInterval', or(o.probeInterval, 1000));
    this.#wait = nonNegative('wait', or(o.wait, 0));
    this.#pollInterval = positive('pollInterval', or(o.pollInterval, 50));
    const f = o.fallback;
    if (typeof f !== 'object' || f === null) {
      throw new ConfigError(
        'fallback',
        f,
        "an object { mode: 'local-share' | 'open' | 'closed', share?, instances? }",
      );
    }
    this.#fallback = oneOf('fallback.mode', or(f.mode, 'local-share'), ['local-share', 'open', 'closed']);
    if (f.share !== undefined) {
      const share = fraction('fallback.share', f.share);
      if (share === 0) throw new ConfigError('fallback.share', share, 'a number in (0, 1]');
      this.#share = share;
    } else if (f.instances !== undefined) {
      this.#share = 1 / integer('fallback.instances', f.instances, 1);
    } else if (this.#fallback === 'local-share') {
      throw new ConfigError(
        'fallback.instances',
        undefined,
        "an integer >= 1 (or fallback.share in (0, 1]) for fallback mode 'local-share'",
      );
    } else {
      this.#share = 1;
    }
  }

  get mode(): GlobalMode {
    return this.#mode;
  }

  get inflight(): number {
    return this.#inflight;
  }

  snapshot(): GlobalLimiterSnapshot {
    return {
      mode: this.#mode,
      inflight: this.#inflight,
      limit: this.#limit(),
      localLimit: this.#localLimit(),
    };
  }

  on<K extends keyof GlobalLimiterEvents & string>(
    name: K,
    listener: (event: GlobalLimiterEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  async execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const acquire: { -readonly [K in keyof GlobalAcquireOptions]: GlobalAcquireOptions[K] } = {};
    if (options?.signal !== undefined) acquire.signal = options.signal;
    if (options?.deadline !== undefined) acquire.deadline = options.deadline;
    const permit = await this.acquire(acquire);
    try {
      return await fn(contextOf(options));
    } finally {
      permit.release();
    }
  }

  async acquire(options?: GlobalAcquireOptions): Promise<GlobalPermit> {
    const kind = this.#kind;
    const cost = or(options?.cost, 1);
    if (kind.type === 'rate') {
      if (typeof cost !== 'number' || !(cost > 0 && cost <= kind.burst)) {
        throw new RangeError(`sluice: cost must be a number in (0, ${kind.burst}], got ${String(cost)}`);
      }
    } else if (cost !== 1) {
      throw new RangeError(
        `sluice: a concurrency limit takes one permit per acquire, got cost ${String(cost)}`,
      );
    }
    const signal = options?.signal;
    const start = this.#clock.now();
    const wait = options?.wait === undefined ? this.#wait : nonNegative('wait', options.wait);
    const deadline = options?.deadline;
    const until = Math.min(start + wait, deadline ?? Number.POSITIVE_INFINITY);
    for (;;) {
      if (signal?.aborted === true) throw this.#reject('aborted', 0, 0, start);
      if (this.#closed) throw this.#reject('shed', 0, 0, start, 'the limiter is closed');
      let refused: { held: number; retryAfterMs: number } | undefined;
      if (this.#mode === 'global') {
        if (this.#clock.now() < this.#graceUntil) {
          const within = this.#withinShare(cost);
          if (within !== true) {
            refused = within;
            refused.retryAfterMs = Math.min(refused.retryAfterMs, this.#graceUntil - this.#clock.now());
          }
        }
        if (refused === undefined) {
          try {
            const permit = await this.#acquireGlobal(cost);
            if ('source' in permit) return permit;
            refused = permit;
          } catch (error) {
            if (!(error instanceof StoreUnavailableError)) throw error;
            this.#fallBack(error);
            continue;
          }
        }
      } else {
        const decided = this.#acquireLocal(cost, start);
        if (!('retryAfterMs' in decided)) return decided;
        refused = decided;
      }
      const now = this.#clock.now();
      let delay = refused.retryAfterMs;
      if (kind.type === 'leases' || this.#mode === 'fallback') delay = Math.min(delay, this.#pollInterval);
      // Spread the retries of many waiters, so they do not hit the store in step.
      delay *= 0.75 + 0.5 * this.#random();
      if (now + delay > until) {
        // Refused at the limit, unless the caller's deadline (rather than the wait allowed) ended the wait.
        const reason: RejectReason =
          deadline !== undefined && deadline < start + wait && now + delay > deadline ? 'deadline' : 'limit';
        throw this.#reject(reason, refused.held, refused.retryAfterMs, start);
      }
      try {
        await sleep(this.#clock, delay, signal);
      } catch {
        throw this.#reject('aborted', refused.held, refused.retryAfterMs, start);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#probe?.cancel();
    this.#probe = undefined;
    const held = [...this.#held];
    for (const lease of held) lease.release();
    await Promise.allSettled(held.map((l) => l.settled));
  }

  /** A lease or the token marker when granted; the store's numbers when refused. Throws StoreUnavailableError. */
  async #acquireGlobal(cost: number): Promise<Lease | typeof TOKEN | { held: number; retryAfterMs: number }> {
    const kind = this.#kind;
    if (kind.type === 'rate') {
      const r = await this.#op('take', this.#store.take(this.key, cost, kind));
      if (r.granted) return TOKEN;
      return { held: 0, retryAfterMs: r.retryAfterMs };
    }
    const limit = typeof kind.limit === 'number' ? kind.limit : kind.limit.current;
    let r: LeaseGrant;
    this.#pending++;
    try {
      r = await this.#op('acquire', this.#store.acquire(this.key, limit, this.#leaseTtl), (late) => {
        // Granted after the caller was answered by the fallback: give it back rather than let it expire.
        if (late.id !== undefined) this.#store.release(this.key, late.id).catch(() => {});
      });
    } finally {
      this.#pending--;
    }
    if (r.reclaimed > 0 && this.#events.wants('reclaim')) {
      this.#events.emit('reclaim', { limiter: this.name, at: this.#clock.now(), reclaimed: r.reclaimed });
    }
    if (r.id === undefined) return { held: r.held, retryAfterMs: r.retryAfterMs };
    if (this.#closed) {
      this.#store.release(this.key, r.id).catch(() => {});
      throw this.#reject('shed', r.held, 0, this.#clock.now(), 'the limiter is closed');
    }
    return new Lease(this, r.id);
  }

  #acquireLocal(cost: number, now: number): GlobalPermit | { held: number; retryAfterMs: number } {
    switch (this.#fallback) {
      case 'open':
        if (this.#kind.type === 'rate') return OPEN;
        this.#inflight++;
        return new LocalPermit(this, 'open');
      case 'closed':
        throw this.#reject(
          'shed',
          this.#inflight,
          this.#probeInterval,
          now,
          `the global store is unavailable and the fallback is closed`,
        );
      case 'local-share': {
        const within = this.#withinShare(cost);
        if (within !== true) return within;
        if (this.#kind.type === 'rate') return LOCAL_TOKEN;
        this.#inflight++;
        return new LocalPermit(this, 'local');
      }
    }
  }

  /**
   * True if one more permit of `cost` keeps this instance within its local share (a rate takes its token
   * from the local bucket here); else when to try again. Store acquires under way count as held.
   */
  #withinShare(cost: number): true | { held: number; retryAfterMs: number } {
    if (this.#kind.type === 'rate') {
      const local = this.#localBucket();
      const now = this.#clock.now();
      this.#local ??= new TokenBucket(0, now);
      const r = this.#local.take(cost, now, local);
      if (r.granted) return true;
      return { held: 0, retryAfterMs: cost > local.burst ? this.#probeInterval : r.retryAfterMs };
    }
    const held = this.#inflight + this.#pending;
    if (held + 1 <= this.#localLimit()) return true;
    return { held, retryAfterMs: this.#pollInterval };
  }

  #limit(): number {
    const kind = this.#kind;
    if (kind.type === 'rate') return kind.rate;
    return typeof kind.limit === 'number' ? kind.limit : kind.limit.current;
  }

  /** Rounded down for a concurrency limit, so that the instances' shares sum to at most the limit. */
  #localLimit(): number {
    if (this.#fallback === 'open') return Number.POSITIVE_INFINITY;
    if (this.#fallback === 'closed') return 0;
    const kind = this.#kind;
    if (kind.type === 'rate') return kind.rate * this.#share;
    return Math.floor(this.#limit() * this.#share + 1e-9);
  }

  #localBucket(): BucketSpec {
    const kind = this.#kind as { type: 'rate' } & BucketSpec;
    return { rate: kind.rate * this.#share, burst: Math.max(1, kind.burst * this.#share) };
  }

  /** Runs a store operation under the time limit; every failure becomes a StoreUnavailableError. */
  #op<T>(operation: string, promise: Promise<T>, onLate?: (value: T) => void): Promise<T> {
    const store = this.#store.name;
    const timeout = this.#timeout;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = this.#clock.setTimer(() => {
        if (done) return;
        done = true;
        reject(new StoreUnavailableError(store, operation, timeout));
      }, timeout);
      promise.then(
        (value) => {
          if (done) {
            onLate?.(value);
            return;
          }
          done = true;
          timer.cancel();
          resolve(value);
        },
        (error: unknown) => {
          if (done) return;
          done = true;
          timer.cancel();
          reject(new StoreUnavailableError(store, operation, undefined, error));
        },
      );
    });
  }

  #fallBack(error: StoreUnavailableError): void {
    if (this.#mode === 'fallback' || this.#closed) return;
    this.#mode = 'fallback';
    this.#graceUntil = Number.NEGATIVE_INFINITY;
    // Empty at the switch: the shared bucket may just have granted this instance its burst.
    if (this.#kind.type === 'rate') this.#local = new TokenBucket(0, this.#clock.now());
    this.#emitMode('global', error);
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    this.#probe = this.#clock.setTimer(() => this.#runProbe(), this.#probeInterval, { ref: false });
  }

  #runProbe(): void {
    this.#probe = undefined;
    if (this.#closed || this.#mode === 'global') return;
    this.#op('ping', this.#store.ping()).then(
      () => {
        if (this.#closed || this.#mode === 'global') return;
        this.#mode = 'global';
        // The others still on their fallback rejoin at their next probe, within one interval: until then
        // this instance keeps to its share too, so that the instances between them stay within the limit.
        if (this.#fallback === 'local-share') this.#graceUntil = this.#clock.now() + this.#probeInterval;
        this.#emitMode('fallback', undefined);
      },
      () => {
        if (!this.#closed) this.#scheduleProbe();
      },
    );
  }

  #emitMode(previous: GlobalMode, error: StoreUnavailableError | undefined): void {
    if (!this.#events.wants('mode')) return;
    this.#events.emit('mode', {
      limiter: this.name,
      at: this.#clock.now(),
      mode: this.#mode,
      previous,
      fallback: this.#fallback,
      localLimit: this.#localLimit(),
      ...(error === undefined ? {} : { error }),
    });
  }

  #reject(
    reason: RejectReason,
    held: number,
    retryAfterMs: number,
    start: number,
    why?: string,
  ): RejectedError {
    const now = this.#clock.now();
    const limit = this.#mode === 'global' ? this.#limit() : this.#localLimit();
    const where = `global limit "${this.name}"${this.#mode === 'fallback' ? ` (fallback ${this.#fallback})` : ''}`;
    const retry = Math.max(0, retryAfterMs);
    const message =
      why !== undefined
        ? `sluice: ${where} refused: ${why}; retry after ${Math.ceil(retry)} ms`
        : reason === 'limit'
          ? `sluice: ${where} reached (limit ${round(limit)}, held ${held}); retry after ${Math.ceil(retry)} ms`
          : undefined;
    const error = new RejectedError(
      reason,
      { limit, inflight: held, queued: 0, retryAfterMs: retry, waitedMs: now - start },
      message,
    );
    if (this.#events.wants('reject')) {
      this.#events.emit('reject', { limiter: this.name, at: now, mode: this.#mode, reason, error });
    }
    return error;
  }

  // Used by the permits.

  /** @internal */
  released(): void {
    this.#inflight--;
  }

  /** @internal */
  leaseStarted(lease: Lease): void {
    this.#inflight++;
    this.#held.add(lease);
  }

  /** @internal Renews `lease`; true while it is held, false once lost. Store failures fall back and keep it. */
  renew(lease: Lease): Promise<boolean> {
    return this.#op('renew', this.#store.renew(this.key, lease.lease, this.#leaseTtl)).then(
      (held) => {
        if (!held && this.#events.wants('lost')) {
          this.#events.emit('lost', { limiter: this.name, at: this.#clock.now(), lease: lease.lease });
        }
        return held;
      },
      (error: unknown) => {
        if (error instanceof StoreUnavailableError) this.#fallBack(error);
        return true;
      },
    );
  }

  /** @internal Releases `lease` in the store, in the background. */
  releaseLease(lease: Lease): Promise<void> {
    this.#held.delete(lease);
    this.#inflight--;
    return this.#op('release', this.#store.release(this.key, lease.lease)).then(
      () => {},
      (error: unknown) => {
        if (error instanceof StoreUnavailableError) this.#fallBack(error);
      },
    );
  }

  /** @internal */
  get clock(): Clock {
    return this.#clock;
  }

  /** @internal */
  get heartbeat(): number {
    return this.#heartbeat;
  }
}

/** A rate permit: a token is spent, nothing to give back. */
class Token implements GlobalPermit {
  readonly source: 'global' | 'local' | 'open';
  readonly lease = undefined;
  readonly released = true;
  readonly lost = false;
  constructor(source: 'global' | 'local' | 'open') {
    this.source = source;
  }
  release(): void {}
}

const TOKEN = Object.freeze(new Token('global'));
const LOCAL_TOKEN = Object.freeze(new Token('local'));
const OPEN = Object.freeze(new Token('open'));

/** A concurrency permit granted by the fallback: counted here only. */
class LocalPermit implements GlobalPermit {
  readonly source: 'local' | 'open';
  readonly lease = undefined;
  readonly lost = false;
  readonly #owner: Global;
  #released = false;

  constructor(owner: Global, source: 'local' | 'open') {
    this.#owner = owner;
    this.source = source;
  }

  get released(): boolean {
    return this.#released;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.released();
  }
}

/** A lease in the store, renewed on the owner's clock while held. */
class Lease implements GlobalPermit {
  readonly source = 'global';
  readonly lease: string;
  readonly #owner: Global;
  #timer: Timer | undefined;
  #released = false;
  #lost = false;
  settled: Promise<void> = Promise.resolve();

  constructor(owner: Global, id: string) {
    this.#owner = owner;
    this.lease = id;
    owner.leaseStarted(this);
    this.#timer = owner.clock.setTimer(() => this.#beat(), owner.heartbeat, { ref: false });
  }

  get released(): boolean {
    return this.#released;
  }

  get lost(): boolean {
    return this.#lost;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.settled = this.#owner.releaseLease(this);
  }

  #beat(): void {
    this.#timer = undefined;
    if (this.#released) return;
    this.#owner.renew(this).then((held) => {
      if (this.#released) return;
      if (!held) {
        this.#lost = true;
        return;
      }
      this.#timer = this.#owner.clock.setTimer(() => this.#beat(), this.#owner.heartbeat, { ref: false });
    });
  }
}

function kindOf(o: GlobalLimiterOptions): Kind {
  if (o.limit !== undefined && o.rate !== undefined) {
    throw new ConfigError(
      'rate',
      o.rate,
      'absent when limit is given (compose two global limiters for both)',
    );
  }
  if (o.rate !== undefined) {
    const rate = positive('rate', o.rate);
    const burst = positive('burst', or(o.burst, Math.max(1, rate)));
    return { type: 'rate', rate, burst };
  }
  if (o.burst !== undefined) throw new ConfigError('burst', o.burst, 'absent unless rate is given');
  const limit = o.limit;
  if (typeof limit === 'number') return { type: 'leases', limit: integer('limit', limit, 1) };
  if (typeof limit === 'object' && limit !== null && typeof limit.current === 'number') {
    return { type: 'leases', limit };
  }
  throw new ConfigError('limit', limit, 'an integer >= 1 or a Limit (or give rate instead)');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
