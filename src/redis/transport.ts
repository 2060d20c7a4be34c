import { ConfigError } from '../core/errors.ts';
import { or } from '../core/validate.ts';
import type { PressureTransport } from '../global/pressure-bus.ts';
import type { RedisCaller } from './scripts.ts';

/** What the transport needs of a connection in subscriber mode (an ioredis client). */
export interface RedisSubscriber {
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  off(event: 'message', listener: (channel: string, message: string) => void): unknown;
}

/** A client the transport may copy for its subscriptions (ioredis's `duplicate()`). */
export interface RedisDuplicable extends RedisCaller {
  duplicate(): RedisSubscriber & { quit(): Promise<unknown> };
}

export interface RedisPressureTransportOptions {
  /** An ioredis client, used to publish (and copied with `duplicate()` to subscribe, unless `subscriber` is given). */
  readonly redis: RedisCaller | RedisDuplicable;
  /**
   * A connection for the subscriptions: a Redis connection that subscribes can send nothing else. Default
   * `redis.duplicate()`, made on the first subscription and closed by `close()`.
   */
  readonly subscriber?: RedisSubscriber;
  /** Prefix of the channel names: a signal named `orders` travels on `<prefix>orders`. Default `"sluice:pressure:"`. */
  readonly prefix?: string;
}

/** A pressure transport that holds a connection of its own. */
export interface ClosablePressureTransport extends PressureTransport {
  /** Ends every subscription, and closes the subscriber connection the transport made. */
  close(): Promise<void>;
}

/**
 * The pressure signal bus over Redis pub/sub (`PUBLISH` / `SUBSCRIBE`). ioredis resubscribes after a
 * reconnection; messages published meanwhile are lost, and the readings they would have refreshed expire
 * at the subscribers, which then treat the pressure as unknown.
 *
 * ```ts
 * const transport = redisPressureTransport({ redis: new Redis(url) });
 * pressurePublisher({ transport, name: 'orders', meter }).start();
 * const orders = await subscribePressure({ transport, name: 'orders' });
 * ```
 */
export function redisPressureTransport(options: RedisPressureTransportOptions): ClosablePressureTransport {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const redis = options.redis;
  if (typeof redis !== 'object' || redis === null || typeof redis.call !== 'function') {
    throw new ConfigError('redis', redis, 'an ioredis client (or an object with call(command, args))');
  }
  const given = options.subscriber;
  if (given === undefined && typeof (redis as Partial<RedisDuplicable>).duplicate !== 'function') {
    throw new ConfigError('subscriber', given, 'a subscriber connection when redis has no duplicate()');
  }
  if (
    given !== undefined &&
    (typeof given !== 'object' || given === null || typeof given.subscribe !== 'function')
  ) {
    throw new ConfigError('subscriber', given, 'an ioredis client for the subscriptions');
  }
  const prefix = or(options.prefix, 'sluice:pressure:');
  if (typeof prefix !== 'string') throw new ConfigError('prefix', prefix, 'a string');
  return new RedisTransport(redis, given, prefix);
}

class RedisTransport implements ClosablePressureTransport {
  readonly #redis: RedisCaller;
  readonly #prefix: string;
  #subscriber: RedisSubscriber | undefined;
  #owned: (RedisSubscriber & { quit(): Promise<unknown> }) | undefined = undefined;
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  readonly #onMessage = (channel: string, message: string): void => {
    const set = this.#channels.get(channel);
    if (set === undefined) return;
    for (const listener of [...set]) listener(message);
  };

  constructor(redis: RedisCaller, subscriber: RedisSubscriber | undefined, prefix: string) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#prefix = prefix;
    subscriber?.on('message', this.#onMessage);
  }

  async publish(name: string, message: string): Promise<void> {
    await this.#redis.call('PUBLISH', [this.#prefix + name, message]);
  }

  async subscribe(name: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    const channel = this.#prefix + name;
    const subscriber = this.#connection();
    let set = this.#channels.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    const entry = (message: string): void => listener(message);
    set.add(entry);
    if (first) {
      try {
        await subscriber.subscribe(channel);
      } catch (error) {
        set.delete(entry);
        if (set.size === 0) this.#channels.delete(channel);
        throw error;
      }
    }
    return async () => {
      if (!set.delete(entry)) return;
      if (set.size === 0 && this.#channels.get(channel) === set) {
        this.#channels.delete(channel);
        await subscriber.unsubscribe(channel);
      }
    };
  }

  async close(): Promise<void> {
    const channels = [...this.#channels.keys()];
    this.#channels.clear();
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    subscriber.off('message', this.#onMessage);
    const owned = this.#owned;
    if (owned !== undefined) {
      this.#owned = undefined;
      this.#subscriber = undefined;
      await owned.quit();
      return;
    }
    if (channels.length > 0) await subscriber.unsubscribe(...channels);
  }

  #connection(): RedisSubscriber {
    if (this.#subscriber !== undefined) return this.#subscriber;
    const owned = (this.#redis as RedisDuplicable).duplicate();
    this.#owned = owned;
    this.#subscriber = owned;
    owned.on('message', this.#onMessage);
    return owned;
  }
}
