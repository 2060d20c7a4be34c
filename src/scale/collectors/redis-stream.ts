import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Readings } from '../types.ts';
import { CollectorError } from './errors.ts';
import {
  type AsyncCollector,
  clockOption,
  collectorName,
  failure,
  Growth,
  methodOption,
  nonEmptyString,
  numeric,
  objectOption,
  untilAborted,
} from './shared.ts';

/** What the collector needs of a Redis client: ioredis's generic `call`. */
export interface RedisCaller {
  call(command: string, args: (string | number)[]): Promise<unknown>;
}

export interface RedisStreamCollectorOptions {
  /** An ioredis client (a `Redis` or a `Cluster`). */
  readonly redis: RedisCaller;
  /** The stream's key. */
  readonly stream: string;
  /** The consumer group whose backlog to read. */
  readonly group: string;
  /** Whether to read `oldestAgeMs`, which costs one more command. Default `true`. */
  readonly oldestAge?: boolean;
  /** Names the collector in decision records. Default `"redis:<stream>/<group>"`. */
  readonly name?: string;
  /** Times the intervals between collects for `backlogGrowth`. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * The backlog of a Redis Streams consumer group, from `XINFO GROUPS`.
 *
 * | reading         | unit       | meaning                                                                  |
 * | --------------- | ---------- | ------------------------------------------------------------------------ |
 * | `lag`           | entries    | entries not yet delivered to the group                                   |
 * | `pending`       | entries    | delivered, not yet acknowledged (the group's pending entries list)       |
 * | `backlog`       | entries    | `lag + pending`: the work not done                                       |
 * | `consumers`     | consumers  | consumers known to the group                                             |
 * | `backlogGrowth` | per second | change of `backlog` since the previous collect (absent on the first)     |
 * | `oldestAgeMs`   | ms         | age of the oldest entry not acknowledged, 0 when the backlog is empty    |
 *
 * Redis 7 reports the group's lag. Older servers do not, nor does Redis 7 when it cannot tell (a group
 * created or moved to an arbitrary ID, entries deleted from the middle of the stream); `lag` is then
 * `XLEN - pending`, exact when processed entries are deleted or trimmed (`XACKDEL`, `XDEL`, `MAXLEN`) and
 * an upper bound otherwise.
 *
 * Ages come from entry IDs, which hold the server's time when Redis generated them, and are measured
 * against the server's `TIME`, so the clocks of client and server need not agree. Entries added with
 * explicit IDs that are not timestamps give meaningless ages: set `oldestAge: false` then.
 */
export function redisStreamCollector(options: RedisStreamCollectorOptions): AsyncCollector {
  objectOption('options', options);
  methodOption('redis', options.redis, 'call', 'an ioredis client');
  const { redis } = options;
  const stream = nonEmptyString('stream', options.stream);
  const group = nonEmptyString('group', options.group);
  const oldestAge = options.oldestAge ?? true;
  if (typeof oldestAge !== 'boolean') throw new ConfigError('oldestAge', oldestAge, 'a boolean');
  const name = collectorName(options.name, `redis:${stream}/${group}`);
  const clock = clockOption(options.clock);
  const growth = new Growth();

  const call = async (
    signal: AbortSignal,
    command: string,
    ...args: (string | number)[]
  ): Promise<unknown> => {
    try {
      return await untilAborted(redis.call(command, args), signal);
    } catch (error) {
      return failure(name, [command, ...args].join(' '), error, signal);
    }
  };

  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      const [groups, time] = await Promise.all([
        call(signal, 'XINFO', 'GROUPS', stream),
        oldestAge ? call(signal, 'TIME') : undefined,
      ]);
      const now = clock.now();
      const info = findGroup(name, stream, group, groups);
      const pending = count(name, info, 'pending');
      const consumers = count(name, info, 'consumers');
      const reportedLag = numeric(info.get('lag'));
      const lastDelivered = String(info.get('last-delivered-id') ?? '0-0');

      // One more round trip, in parallel: the fallback length, and the entry whose age is the oldest.
      const exact = reportedLag !== undefined;
      const [length, oldestId] = await Promise.all([
        exact ? undefined : call(signal, 'XLEN', stream),
        !oldestAge
          ? undefined
          : pending > 0
            ? call(signal, 'XPENDING', stream, group).then((r) => idOf(Array.isArray(r) ? r[1] : undefined))
            : (reportedLag ?? 1) > 0
              ? call(signal, 'XRANGE', stream, successor(lastDelivered), '+', 'COUNT', 1).then((r) =>
                  idOf(Array.isArray(r) && Array.isArray(r[0]) ? r[0][0] : undefined),
                )
              : undefined,
      ]);
      const lag = exact ? reportedLag : Math.max(0, (numeric(length) ?? 0) - pending);
      const backlog = lag + pending;
      const readings: Record<string, number> = { lag, pending, backlog, consumers };
      const change = growth.next(backlog, now);
      if (change !== undefined) readings['backlogGrowth'] = change;
      if (oldestAge) {
        const serverNow = serverTime(time);
        const born = oldestId === undefined ? undefined : idTime(oldestId);
        if (born === undefined) {
          // No entry to age: nothing waits (or, under the fallback, the estimate was above the truth).
          if (oldestId === undefined) readings['oldestAgeMs'] = 0;
        } else if (serverNow !== undefined) {
          readings['oldestAgeMs'] = Math.max(0, serverNow - born);
        }
      }
      return readings;
    },
  };
}

/** The fields of the group named `group` in an `XINFO GROUPS` reply (RESP2 arrays or RESP3 maps). */
function findGroup(collector: string, stream: string, group: string, reply: unknown): Map<string, unknown> {
  if (!Array.isArray(reply)) {
    throw new CollectorError(
      collector,
      `XINFO GROUPS ${stream} returned ${typeof reply}, not a list of groups`,
    );
  }
  const names: string[] = [];
  for (const entry of reply) {
    const fields = fieldsOf(entry);
    const name = String(fields.get('name'));
    if (name === group) return fields;
    names.push(name);
  }
  const known =
    names.length === 0 ? 'it has none' : `it has ${names.map((n) => JSON.stringify(n)).join(', ')}`;
  throw new CollectorError(collector, `stream "${stream}" has no consumer group "${group}" (${known})`);
}

function fieldsOf(entry: unknown): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  if (Array.isArray(entry)) {
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
  } else if (entry instanceof Map) {
    for (const [k, v] of entry) fields.set(String(k), v);
  } else if (typeof entry === 'object' && entry !== null) {
    for (const [k, v] of Object.entries(entry)) fields.set(k, v);
  }
  return fields;
}

function count(collector: string, fields: Map<string, unknown>, field: string): number {
  const n = numeric(fields.get(field));
  if (n === undefined) {
    throw new CollectorError(
      collector,
      `XINFO GROUPS gave no "${field}" for the group (got ${String(fields.get(field))})`,
    );
  }
  return n;
}

/** The smallest ID greater than `id` (`ms-seq` -> `ms-(seq+1)`), so that an inclusive XRANGE skips `id`. */
function successor(id: string): string {
  const dash = id.indexOf('-');
  if (dash === -1) return `${id}-1`;
  return `${id.slice(0, dash)}-${(BigInt(id.slice(dash + 1)) + 1n).toString()}`;
}

function idOf(value: unknown): string | undefined {
  return typeof value === 'string' || Buffer.isBuffer(value) ? String(value) : undefined;
}

/** The millisecond time part of a stream ID. */
function idTime(id: string): number | undefined {
  const ms = Number(id.slice(0, id.indexOf('-') === -1 ? id.length : id.indexOf('-')));
  return Number.isFinite(ms) ? ms : undefined;
}

/** `TIME`'s `[seconds, microseconds]` as milliseconds since the epoch. */
function serverTime(reply: unknown): number | undefined {
  if (!Array.isArray(reply)) return undefined;
  const s = numeric(reply[0]);
  const us = numeric(reply[1]);
  return s === undefined || us === undefined ? undefined : s * 1000 + us / 1000;
}
