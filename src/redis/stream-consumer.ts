import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createConsumer } from '../consumer/consumer.ts';
import { parsePriority } from '../consumer/priority.ts';
import type {
  Consumer,
  ConsumerMessage,
  ConsumerOptions,
  ConsumerSource,
  DeadLetterInfo,
} from '../consumer/types.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { integer, or, positive } from '../core/validate.ts';

/** What the consumer needs of a Redis client: ioredis's generic `call`. */
export interface StreamCaller {
  call(command: string, args: (string | number)[]): Promise<unknown>;
}

/** An ioredis client (`Redis`); the consumer reads with a blocking command on a duplicate of it. */
export interface StreamRedis extends StreamCaller {
  duplicate(): StreamCaller & { disconnect(): void };
}

/** A stream entry as the broker gave it. */
export interface StreamEntry {
  readonly stream: string;
  readonly id: string;
  /** Field names and values in order, as stored (a field may repeat). */
  readonly fields: readonly string[];
}

/** A stream entry's delivery; `body` holds its fields by name (the last of a repeated field). */
export type RedisStreamMessage = ConsumerMessage<Readonly<Record<string, string>>, StreamEntry>;

export interface RedisStreamConsumerOptions extends ConsumerOptions<RedisStreamMessage> {
  /** An ioredis client. Not a `Cluster` unless the stream and its dead-letter stream share a hash slot. */
  readonly redis: StreamRedis;
  /** The stream's key. */
  readonly stream: string;
  /** The consumer group. */
  readonly group: string;
  /** This consumer's name in the group. Default `<hostname>:<pid>:<random>`, unique per consumer. */
  readonly consumer?: string;
  /**
   * Creates the group (and the stream) when missing, reading from this entry ID: `"0"` for the whole stream,
   * `"$"` for entries added from now on. `false` expects the group to exist. Default `"0"`.
   */
  readonly create?: string | false;
  /**
   * An entry delivered and not acknowledged for this long (ms) counts as abandoned (its consumer died) and
   * is claimed by a live consumer of the group (`XAUTOCLAIM`). Entries in work are kept fresh (heartbeats
   * every third of it), so set it well above the network's hiccups, not above the handler's duration.
   * Also the longest delay a requeue can have. Default 30000.
   */
  readonly claimIdle?: number;
  /** How often (ms) to look for abandoned entries. Default a quarter of `claimIdle`, at most 5000. */
  readonly claimInterval?: number;
  /** Longest one read blocks waiting for new entries (ms); a stop waits at most this long. Default 1000. */
  readonly block?: number;
  /** Stream that dead letters are added to, with the entry's fields and `sluice.*` fields. Default `<stream>:dead`. */
  readonly deadLetterStream?: string;
  /** Field holding an entry's priority (a number or criticality name). Default `"priority"`. */
  readonly priorityField?: string;
}

// Scripts run as a unit, so no other consumer's claim falls between the check and the change.

/** Requeue: if the entry is still ours, make it claimable after the delay, taking back the delivery if shed. */
const REQUEUE = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
local count = tonumber(p[1][4])
if ARGV[5] == '0' and count > 0 then count = count - 1 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'RETRYCOUNT', count, 'JUSTID')
return 1`;

/** Dead letter: if the entry is still ours, copy it to the dead-letter stream and acknowledge it. */
const DEAD_LETTER = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return 1`;

/** Heartbeat: reset the idle time of the entries still ours, without counting a delivery. */
const TOUCH = `
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p > 0 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n`;

/** Delivery counts of entries, from the group's pending entries list. */
const COUNTS = `
local counts = {}
for i = 2, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  counts[i - 1] = (#p > 0) and p[1][4] or 1
end
return counts`;

class RedisStreamSource implements ConsumerSource<RedisStreamMessage> {
  readonly name: string;
  readonly touchInterval: number;
  readonly #redis: StreamRedis;
  readonly #stream: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #create: string | false;
  readonly #claimIdle: number;
  readonly #claimInterval: number;
  readonly #block: number;
  readonly #deadLetterStream: string;
  readonly #priorityField: string;
  readonly #clock: Clock;
  #reader: (StreamCaller & { disconnect(): void }) | undefined;
  #cursor = '0-0';
  #nextClaimAt = Number.NEGATIVE_INFINITY;

  constructor(options: RedisStreamConsumerOptions) {
    const redis = options.redis;
    if (typeof redis?.call !== 'function' || typeof redis.duplicate !== 'function') {
      throw new ConfigError('redis', redis, 'an ioredis client (an object with call() and duplicate())');
    }
    this.#redis = redis;
    this.#stream = nonEmpty('stream', options.stream);
    this.#group = nonEmpty('group', options.group);
    this.#consumer = nonEmpty(
      'consumer',
      or(options.consumer, `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`),
    );
    const create = options.create ?? '0';
    this.#create = create === false ? false : nonEmpty('create', create);
    this.#claimIdle = integer('claimIdle', or(options.claimIdle, 30_000), 1);
    this.#claimInterval = positive(
      'claimInterval',
      or(options.claimInterval, Math.min(5000, this.#claimIdle / 4)),
    );
    this.#block = integer('block', or(options.block, 1000), 1);
    this.#deadLetterStream = nonEmpty(
      'deadLetterStream',
      or(options.deadLetterStream, `${this.#stream}:dead`),
    );
    this.#priorityField = nonEmpty('priorityField', or(options.priorityField, 'priority'));
    this.#clock = options.clock ?? systemClock;
    this.touchInterval = this.#claimIdle / 3;
    this.name = `redis:${this.#stream}/${this.#group}`;
  }

  /** This consumer's name in the group. */
  get consumer(): string {
    return this.#consumer;
  }

  async open(): Promise<void> {
    if (this.#create !== false) {
      try {
        await this.#redis.call('XGROUP', ['CREATE', this.#stream, this.#group, this.#create, 'MKSTREAM']);
      } catch (error) {
        if (!String((error as Error)?.message).startsWith('BUSYGROUP')) throw error;
      }
    }
    this.#reader = this.#redis.duplicate();
  }

  async receive(
    max: number,
    deliver: (message: RedisStreamMessage) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let room = max;
    const now = this.#clock.now();
    if (now >= this.#nextClaimAt) {
      room -= await this.#reclaim(room, deliver);
      // A cursor not back at the start means more to scan: look again at the next receive.
      this.#nextClaimAt = this.#cursor === '0-0' ? now + this.#claimInterval : now;
    }
    if (room <= 0 || signal.aborted) return;
    const reader = this.#reader;
    if (reader === undefined) throw new Error(`sluice: consumer "${this.name}" is not open`);
    // Block only when nothing was reclaimed, and not past the next scan for abandoned entries.
    const block =
      room < max ? undefined : Math.max(1, Math.min(this.#block, Math.ceil(this.#nextClaimAt - now)));
    const args: (string | number)[] = ['GROUP', this.#group, this.#consumer, 'COUNT', room];
    if (block !== undefined) args.push('BLOCK', block);
    args.push('STREAMS', this.#stream, '>');
    const reply = await reader.call('XREADGROUP', args);
    for (const [id, fields] of readEntries(reply)) deliver(this.#message(id, fields, 1));
  }

  /** Claims abandoned entries (idle past `claimIdle`) for this consumer; returns how many it delivered. */
  async #reclaim(max: number, deliver: (message: RedisStreamMessage) => void): Promise<number> {
    const reply = await this.#redis.call('XAUTOCLAIM', [
      this.#stream,
      this.#group,
      this.#consumer,
      this.#claimIdle,
      this.#cursor,
      'COUNT',
      max,
    ]);
    if (!Array.isArray(reply)) return 0;
    this.#cursor = typeof reply[0] === 'string' ? reply[0] : '0-0';
    const entries = entryList(reply[1]);
    if (entries.length === 0) return 0;
    const counts = await this.#redis.call('EVAL', [
      COUNTS,
      1,
      this.#stream,
      this.#group,
      ...entries.map(([id]) => id),
    ]);
    entries.forEach(([id, fields], i) => {
      const count = Number(Array.isArray(counts) ? counts[i] : 1);
      deliver(this.#message(id, fields, Number.isFinite(count) && count > 0 ? count : 1));
    });
    return entries.length;
  }

  async ack(message: RedisStreamMessage): Promise<void> {
    await this.#redis.call('XACK', [this.#stream, this.#group, message.id]);
  }

  async requeue(message: RedisStreamMessage, delayMs: number, failed: boolean): Promise<void> {
    const idle = Math.max(0, Math.round(this.#claimIdle - delayMs));
    await this.#redis.call('EVAL', [
      REQUEUE,
      1,
      this.#stream,
      this.#group,
      this.#consumer,
      message.id,
      idle,
      failed ? '1' : '0',
    ]);
  }

  async deadLetter(message: RedisStreamMessage, info: DeadLetterInfo): Promise<void> {
    await this.#redis.call('EVAL', [
      DEAD_LETTER,
      2,
      this.#stream,
      this.#deadLetterStream,
      this.#group,
      this.#consumer,
      message.id,
      ...message.raw.fields,
      'sluice.stream',
      this.#stream,
      'sluice.group',
      this.#group,
      'sluice.id',
      message.id,
      'sluice.deliveries',
      String(info.deliveries),
      'sluice.error',
      info.reason,
    ]);
  }

  async touch(messages: readonly RedisStreamMessage[]): Promise<void> {
    await this.#redis.call('EVAL', [
      TOUCH,
      1,
      this.#stream,
      this.#group,
      this.#consumer,
      ...messages.map((m) => m.id),
    ]);
  }

  async close(): Promise<void> {
    this.#reader?.disconnect();
    this.#reader = undefined;
  }

  #message(id: string, fields: readonly string[], deliveries: number): RedisStreamMessage {
    const body: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) body[fields[i]!] = fields[i + 1]!;
    return {
      id,
      body,
      deliveries,
      priority: parsePriority(body[this.#priorityField]) ?? 0,
      raw: { stream: this.#stream, id, fields },
    };
  }
}

/** `[id, fields]` pairs of an `XREADGROUP` reply (RESP2 `[[key, entries]]`, RESP3 as ioredis flattens it, or a Map). */
function readEntries(reply: unknown): [string, string[]][] {
  if (reply === null || reply === undefined) return [];
  if (reply instanceof Map) return [...reply.values()].flatMap(entryList);
  if (!Array.isArray(reply)) return [];
  if (reply.length >= 2 && typeof reply[0] === 'string' && Array.isArray(reply[1])) {
    // RESP3 map flattened to [key, entries, key, entries...]
    const out: [string, string[]][] = [];
    for (let i = 1; i < reply.length; i += 2) out.push(...entryList(reply[i]));
    return out;
  }
  return reply.flatMap((stream) => (Array.isArray(stream) ? entryList(stream[1]) : []));
}

/** `[id, fields]` pairs of a list of entries, skipping entries deleted from the stream (nil fields). */
function entryList(entries: unknown): [string, string[]][] {
  if (!Array.isArray(entries)) return [];
  const out: [string, string[]][] = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) continue;
    out.push([entry[0], entry[1].map(String)]);
  }
  return out;
}

function nonEmpty(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(option, value, 'a non-empty string');
  return value;
}

/**
 * An adaptive consumer of a Redis Streams consumer group (ioredis).
 *
 * - **Adaptive intake.** Each `XREADGROUP` asks for `COUNT` = the free places in the consumer's window
 *   (`limit + buffer`), so the entries it holds follow the adaptive limit.
 * - **Acknowledged after the handler.** `XACK` once the handler resolves; a failure makes the entry
 *   claimable again after the backoff (an `XCLAIM ... IDLE` on its pending entry), and its delivery counter
 *   counts it; after `maxDeliveries` it is moved to `deadLetterStream` and acknowledged in one script.
 * - **Shedding** hands an entry back the same way without counting the delivery (`RETRYCOUNT`).
 * - **Dead consumers.** Entries pending longer than `claimIdle` are claimed with `XAUTOCLAIM` by a live
 *   consumer, their delivery counts read from the pending entries list. Entries in work are kept fresh
 *   by heartbeats, so a slow handler does not lose its entry to another consumer.
 *
 * Delays are approximate: an entry handed back becomes claimable after its delay and is claimed at the next
 * scan (every `claimInterval`); delays longer than `claimIdle` are cut to it.
 *
 * ```ts
 * const consumer = redisStreamConsumer({
 *   redis, stream: 'orders', group: 'billing',
 *   handler: async (message) => billing.charge(JSON.parse(message.body.order)),
 * });
 * await consumer.start();
 * ```
 */
export function redisStreamConsumer(options: RedisStreamConsumerOptions): Consumer {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  return createConsumer(new RedisStreamSource(options), options);
}
