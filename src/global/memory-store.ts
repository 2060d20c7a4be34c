import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { or } from '../core/validate.ts';
import { type BucketSpec, type GlobalStore, type LeaseGrant, type TakeResult, TokenBucket } from './store.ts';

export interface MemoryStoreOptions {
  /** Time source: the store's time, which every instance sharing it agrees on. Default the system clock. */
  readonly clock?: Clock;
}

/** Operations between two sweeps of keys that hold nothing (full buckets, lease sets with no live lease). */
const SWEEP_EVERY = 1024;

interface BucketEntry {
  readonly bucket: TokenBucket;
  spec: BucketSpec;
}

/**
 * A global store inside one process: the same contract as `redisStore()`, for a single instance, for
 * tests and for the simulator. Every operation runs synchronously to completion before its promise
 * settles, which makes it atomic. Memory holds only keys in use: a full bucket and an empty lease set are
 * indistinguishable from absent ones and are dropped by a periodic sweep.
 */
export function memoryStore(options: MemoryStoreOptions = {}): GlobalStore {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const clock = or(options.clock, systemClock);
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new ConfigError('clock', clock, 'a Clock');
  }
  return new MemoryStore(clock);
}

class MemoryStore implements GlobalStore {
  readonly name = 'memory';
  readonly #clock: Clock;
  readonly #buckets = new Map<string, BucketEntry>();
  /** Per key: lease id -> expiry time. */
  readonly #leases = new Map<string, Map<string, number>>();
  #nextId = 0;
  #ops = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  take(key: string, n: number, bucket: BucketSpec): Promise<TakeResult> {
    const now = this.#tick();
    let entry = this.#buckets.get(key);
    if (entry === undefined) {
      entry = { bucket: new TokenBucket(bucket.burst, now), spec: bucket };
      this.#buckets.set(key, entry);
    }
    entry.spec = bucket;
    return Promise.resolve(entry.bucket.take(n, now, bucket));
  }

  acquire(key: string, limit: number, ttlMs: number): Promise<LeaseGrant> {
    const now = this.#tick();
    let leases = this.#leases.get(key);
    if (leases === undefined) {
      leases = new Map();
      this.#leases.set(key, leases);
    }
    let reclaimed = 0;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, expiry] of leases) {
      if (expiry <= now) {
        leases.delete(id);
        reclaimed++;
      } else if (expiry < earliest) {
        earliest = expiry;
      }
    }
    if (leases.size < limit) {
      const id = `m${++this.#nextId}`;
      leases.set(id, now + ttlMs);
      return Promise.resolve({ id, held: leases.size, reclaimed, retryAfterMs: 0 });
    }
    return Promise.resolve({ id: undefined, held: leases.size, reclaimed, retryAfterMs: earliest - now });
  }

  renew(key: string, id: string, ttlMs: number): Promise<boolean> {
    const now = this.#tick();
    const leases = this.#leases.get(key);
    const expiry = leases?.get(id);
    if (leases === undefined || expiry === undefined) return Promise.resolve(false);
    if (expiry <= now) {
      leases.delete(id);
      return Promise.resolve(false);
    }
    leases.set(id, now + ttlMs);
    return Promise.resolve(true);
  }

  release(key: string, id: string): Promise<boolean> {
    const now = this.#tick();
    const leases = this.#leases.get(key);
    const expiry = leases?.get(id);
    if (leases === undefined || expiry === undefined) return Promise.resolve(false);
    leases.delete(id);
    if (leases.size === 0) this.#leases.delete(key);
    return Promise.resolve(expiry > now);
  }

  held(key: string): Promise<number> {
    const now = this.#tick();
    let live = 0;
    for (const expiry of this.#leases.get(key)?.values() ?? []) if (expiry > now) live++;
    return Promise.resolve(live);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  #tick(): number {
    const now = this.#clock.now();
    if (++this.#ops >= SWEEP_EVERY) {
      this.#ops = 0;
      this.#sweep(now);
    }
    return now;
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#buckets)
      if (entry.bucket.full(now, entry.spec)) this.#buckets.delete(key);
    for (const [key, leases] of this.#leases) {
      let live = false;
      for (const expiry of leases.values()) {
        if (expiry > now) {
          live = true;
          break;
        }
      }
      if (!live) this.#leases.delete(key);
    }
  }
}
