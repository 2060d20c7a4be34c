import { createHash } from 'node:crypto';

/** What sluice needs of a Redis client: ioredis's generic `call` (a `Redis` or a `Cluster`). */
export interface RedisCaller {
  call(command: string, args: (string | number)[]): Promise<unknown>;
}

/**
 * A Lua script run by its SHA1 (`EVALSHA`), falling back to `EVAL` when the server does not have it
 * cached (a restarted or failed-over server answers NOSCRIPT); `EVAL` caches it again.
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(
    redis: RedisCaller,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await redis.call('EVALSHA', [this.sha, keys.length, ...keys, ...args]);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return redis.call('EVAL', [this.source, keys.length, ...keys, ...args]);
    }
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

// Every script reads the time from the server (`TIME`), never from the caller: all instances measure
// refills and expiries on one clock, whatever the skew between their hosts. Effect replication (the default
// since Redis 5, forced on 3.2 and 4 by `replicate_commands`) makes a write after `TIME` legal and replicas
// apply the writes, not the script. Numbers leave Lua as strings: a Lua number reply is cut to an integer.

const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/**
 * KEYS[1] a hash { tokens, at }; ARGV rate (per second), burst, n.
 * Returns { granted 0|1, tokens left, ms until n tokens }.
 */
export const TAKE = new LuaScript(`${NOW}
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
elseif now > at then
  tokens = tokens + (now - at) * rate / 1000
  at = now
end
if tokens > burst then tokens = burst end
local granted = 0
local retry = 0
if tokens >= n then
  tokens = tokens - n
  granted = 1
else
  retry = (n - tokens) * 1000 / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', at))
-- Once full, a bucket equals an absent one: let it go then.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return { granted, string.format('%.17g', tokens), string.format('%.17g', retry) }
`);

/** Keeps the lease set alive until its last lease expires (and a second more). */
const EXPIRE_LEASES = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(last[2]) - now) + 1000) end
`;

/**
 * KEYS[1] a sorted set of lease ids scored by expiry; ARGV limit, ttl (ms), new id.
 * Removes expired leases, then grants if fewer than limit remain.
 * Returns { granted 0|1, held, reclaimed, ms until the earliest expiry when refused }.
 */
export const ACQUIRE = new LuaScript(`${NOW}
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local reclaimed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now))
local held = redis.call('ZCARD', KEYS[1])
if held < limit then
  redis.call('ZADD', KEYS[1], string.format('%.17g', now + ttl), ARGV[3])
  ${EXPIRE_LEASES}
  return { 1, held + 1, reclaimed, '0' }
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = 0
if first[2] then retry = tonumber(first[2]) - now end
return { 0, held, reclaimed, string.format('%.17g', retry) }
`);

/** KEYS[1] the lease set; ARGV id, ttl (ms). Returns 1 if the live lease was extended, 0 if it was gone. */
export const RENEW = new LuaScript(`${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
if tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%.17g', now + tonumber(ARGV[2])), ARGV[1])
${EXPIRE_LEASES}
return 1
`);

/** KEYS[1] the lease set; ARGV id. Returns 1 if a live lease was released, 0 otherwise. */
export const RELEASE = new LuaScript(`${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(score) <= now then return 0 end
return 1
`);

/** KEYS[1] the lease set. Returns the live leases. */
export const HELD = new LuaScript(`${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.17g', now), '+inf')
`);
