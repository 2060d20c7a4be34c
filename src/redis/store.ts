import { randomUUID } from 'node:crypto';
import { ConfigError } from '../core/errors.ts';
import { or } from '../core/validate.ts';
import type { BucketSpec, GlobalStore, LeaseGrant, TakeResult } from '../global/store.ts';
import { ACQUIRE, HELD, RELEASE, RENEW, type RedisCaller, TAKE } from './scripts.ts';

export interface RedisStoreOptions {
  /** An ioredis client (`Redis` or `Cluster`), or anything with its `call(command, args)`. */
  readonly redis: RedisCaller;
  /**
   * Prefix of every key. Each limit uses `<prefix>{<key>}:tokens` or `<prefix>{<key>}:leases`; the braces
   * keep a limit's key in one Redis Cluster slot. Default `"sluice:"`.
   */
  readonly prefix?: string;
}

/**
 * A global store in Redis, for `globalLimiter()`: each operation is one Lua script, atomic on the server,
 * timed by the server's `TIME`. Scripts run by SHA1 and are sent again when the server lost them (restart,
 * failover). Keys expire once they hold nothing: a full bucket after it refills, a lease set after its last
 * lease expires.
 *
 * The store adds no time limit of its own: the global limiter bounds each operation (its `timeout`). Give
 * the client `maxRetriesPerRequest` and `enableOfflineQueue` settings that suit a limiter: commands queued
 * while Redis is down are answered when it returns, after the limiter has moved on.
 *
 * ```ts
 * import { Redis } from 'ioredis';
 * const store = redisStore({ redis: new Redis(process.env.REDIS_URL) });
 * const api = globalLimiter({ store, key: 'payments-api', limit: 50, fallback: { instances: 5 } });
 * ```
 */
export function redisStore(options: RedisStoreOptions): GlobalStore {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const redis = options.redis;
  if (typeof redis !== 'object' || redis === null || typeof redis.call !== 'function') {
    throw new ConfigError('redis', redis, 'an ioredis client (or an object with call(command, args))');
  }
  const prefix = or(options.prefix, 'sluice:');
  if (typeof prefix !== 'string') throw new ConfigError('prefix', prefix, 'a string');
  return new RedisStore(redis, prefix);
}

class RedisStore implements GlobalStore {
  readonly name = 'redis';
  readonly #redis: RedisCaller;
  readonly #prefix: string;

  constructor(redis: RedisCaller, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async take(key: string, n: number, bucket: BucketSpec): Promise<TakeResult> {
    const r = await TAKE.run(this.#redis, [this.#key(key, 'tokens')], [bucket.rate, bucket.burst, n]);
    const [granted, remaining, retry] = reply(r, 3, 'take');
    return { granted: granted === 1, remaining: Number(remaining), retryAfterMs: Number(retry) };
  }

  async acquire(key: string, limit: number, ttlMs: number): Promise<LeaseGrant> {
    const id = randomUUID();
    const r = await ACQUIRE.run(this.#redis, [this.#key(key, 'leases')], [limit, Math.ceil(ttlMs), id]);
    const [granted, held, reclaimed, retry] = reply(r, 4, 'acquire');
    return {
      id: granted === 1 ? id : undefined,
      held: Number(held),
      reclaimed: Number(reclaimed),
      retryAfterMs: Math.max(0, Number(retry)),
    };
  }

  async renew(key: string, id: string, ttlMs: number): Promise<boolean> {
    return (await RENEW.run(this.#redis, [this.#key(key, 'leases')], [id, Math.ceil(ttlMs)])) === 1;
  }

  async release(key: string, id: string): Promise<boolean> {
    return (await RELEASE.run(this.#redis, [this.#key(key, 'leases')], [id])) === 1;
  }

  async held(key: string): Promise<number> {
    return Number(await HELD.run(this.#redis, [this.#key(key, 'leases')], []));
  }

  async ping(): Promise<void> {
    await this.#redis.call('PING', []);
  }

  #key(key: string, kind: string): string {
    return `${this.#prefix}{${key}}:${kind}`;
  }
}

function reply(value: unknown, length: number, operation: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) {
    throw new TypeError(`sluice: unexpected reply to the ${operation} script: ${JSON.stringify(value)}`);
  }
  return value;
}
