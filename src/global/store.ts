import { SluiceError } from '../core/errors.ts';

/**
 * The contract of a global-limit backend: a token bucket and a set of expiring concurrency leases per key,
 * shared by every instance that uses the same store. Each operation is atomic: concurrent callers, in one
 * process or many, never see a half-applied change, so the bucket never grants more than it holds and the
 * lease set never holds more than its limit. Time is the store's own (the memory store's clock, the Redis
 * server's `TIME`), never the caller's, so clock skew between hosts cannot stretch a limit.
 *
 * Two backends implement it: `memoryStore()` here, for one process and for tests, and `redisStore()` in
 * `sluice/redis`. One test suite runs against both.
 */
export interface GlobalStore {
  /** `"memory"`, `"redis"`, ...: for events and error messages. */
  readonly name: string;
  /**
   * Takes `n` tokens from the bucket at `key` if it holds them, all or nothing. A bucket seen for the first
   * time is full. Tokens refill continuously at `bucket.rate` per second up to `bucket.burst`.
   */
  take(key: string, n: number, bucket: BucketSpec): Promise<TakeResult>;
  /**
   * Grants a lease at `key` if fewer than `limit` live leases are held there; the lease expires `ttlMs`
   * after the grant unless renewed. Expired leases (of instances that died without releasing) are removed
   * by the same atomic step before counting.
   */
  acquire(key: string, limit: number, ttlMs: number): Promise<LeaseGrant>;
  /** Extends a live lease to expire `ttlMs` from now; false if it has expired or was released. */
  renew(key: string, id: string, ttlMs: number): Promise<boolean>;
  /** Ends a lease; false if it was not held (expired, reclaimed, or already released). */
  release(key: string, id: string): Promise<boolean>;
  /** Live leases at `key` now (expired ones not counted). */
  held(key: string): Promise<number>;
  /** Resolves when the store answers; the global limiter's probe while it runs on its fallback. */
  ping(): Promise<void>;
}

/** A token bucket's shape. */
export interface BucketSpec {
  /** Tokens added per second, > 0. */
  readonly rate: number;
  /** Most tokens the bucket holds, >= the largest take. */
  readonly burst: number;
}

export interface TakeResult {
  readonly granted: boolean;
  /** Tokens left after the call (fractional). */
  readonly remaining: number;
  /** When refused: ms until the bucket holds the tokens asked for. 0 when granted. */
  readonly retryAfterMs: number;
}

export interface LeaseGrant {
  /** The new lease's id, or `undefined` when refused. */
  readonly id: string | undefined;
  /** Live leases after the call, the new one included. */
  readonly held: number;
  /** Expired leases this call removed. */
  readonly reclaimed: number;
  /** When refused: ms until the earliest live lease expires (an upper bound on the wait). 0 when granted. */
  readonly retryAfterMs: number;
}

/**
 * The global store did not answer in time, or failed. The global limiter catches it and falls back; it
 * reaches callers only as the `cause` of a fail-closed rejection and in `mode` events.
 */
export class StoreUnavailableError extends SluiceError {
  readonly code = 'SLUICE_STORE_UNAVAILABLE';
  override readonly name = 'StoreUnavailableError';
  /** The store's name. */
  readonly store: string;
  /** The operation that failed: `"take"`, `"acquire"`, `"renew"`, `"release"`, `"ping"`. */
  readonly operation: string;
  /** The time limit that expired (ms), or `undefined` when the store failed with an error. */
  readonly timeoutMs: number | undefined;

  constructor(store: string, operation: string, timeoutMs: number | undefined, cause?: unknown) {
    const why =
      timeoutMs === undefined
        ? `failed: ${cause instanceof Error ? cause.message : String(cause)}`
        : `did not answer within ${timeoutMs} ms`;
    super(`sluice: global store "${store}" ${operation} ${why}`, cause === undefined ? {} : { cause });
    this.store = store;
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Token-bucket arithmetic shared by the memory store and the limiter's local fallback (the Redis script
 * does the same in Lua). State is the token count at `at`; `refill` brings it to `now`. A `now` before `at`
 * (a clock that stepped back) adds nothing rather than removing tokens.
 */
export class TokenBucket {
  tokens: number;
  at: number;

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }

  refill(now: number, bucket: BucketSpec): void {
    if (now > this.at) {
      this.tokens += ((now - this.at) * bucket.rate) / 1000;
      this.at = now;
    }
    // Also applies a burst lowered since the last take.
    if (this.tokens > bucket.burst) this.tokens = bucket.burst;
  }

  /** Takes `n` tokens if present (after refilling to `now`). */
  take(n: number, now: number, bucket: BucketSpec): TakeResult {
    this.refill(now, bucket);
    if (this.tokens >= n) {
      this.tokens -= n;
      return { granted: true, remaining: this.tokens, retryAfterMs: 0 };
    }
    return { granted: false, remaining: this.tokens, retryAfterMs: ((n - this.tokens) * 1000) / bucket.rate };
  }

  /** True once the bucket has refilled to `burst` by `now`: it then equals a bucket never used. */
  full(now: number, bucket: BucketSpec): boolean {
    return this.tokens + ((now - this.at) * bucket.rate) / 1000 >= bucket.burst;
  }
}
