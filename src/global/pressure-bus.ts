import { randomUUID } from 'node:crypto';
import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { func, integer, oneOf, or, positive } from '../core/validate.ts';
import type { PressureLevel, PressureMeter } from '../signals/pressure.ts';

/**
 * The pressure signal bus: each service publishes its pressure score under a name, and its callers
 * subscribe to it, so that a downstream's rising pressure (its queue filling, its drops climbing) lowers
 * their limits before its latency rises. A transport carries opaque text messages per name: Redis pub/sub
 * (`sluice/redis`), NATS core (`sluice/nats`), or `memoryTransport()` inside one process.
 *
 * Delivery is best effort, as on the underlying pub/sub: a lost message is replaced by the next one, and
 * a signal that stops arriving expires (see `ttl`), so a publisher that dies or a partitioned network leaves
 * its callers unconstrained rather than stuck on an old reading.
 */
export interface PressureTransport {
  /** Sends `message` to the current subscribers of `name`. */
  publish(name: string, message: string): Promise<void>;
  /** Delivers the messages published under `name` to `listener`; resolves to an unsubscribe function. */
  subscribe(name: string, listener: (message: string) => void): Promise<() => Promise<void>>;
}

/** What a publisher sends, as JSON. */
export interface PressureMessage {
  /** Format version: 1. */
  readonly v: 1;
  /** The instance that published it (one per publisher). */
  readonly instance: string;
  /** Per-instance sequence number: a message older than one already seen is dropped. */
  readonly seq: number;
  /** Pressure in [0, 1]. */
  readonly score: number;
  /** The publisher's level, when it reads a `PressureMeter`. */
  readonly level?: PressureLevel;
  /** How long the reading stays valid after it arrives (ms), unless the subscriber sets its own `ttl`. */
  readonly ttl: number;
}

/** A pressure reading that can lower a limit (see `pressureCap`): a subscriber, or your own source. */
export interface PressureSignal {
  /** Pressure in [0, 1], or `undefined` when unknown (nothing fresh was heard). */
  readonly pressure: number | undefined;
  /** Calls `listener` after every change of `pressure`; returns an unsubscribe function. */
  onChange(listener: (pressure: number | undefined) => void): () => void;
}

/** Names are dot- or colon-separated words, valid as a Redis channel and as a NATS subject. */
const NAME = /^[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*$/;
/** Messages longer than this are not ours and are dropped unread. */
const MAX_MESSAGE = 1024;

export function pressureName(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 200 || !NAME.test(value)) {
    throw new ConfigError(option, value, 'words of letters, digits, "_" or "-" separated by "." or ":"');
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Publisher

export interface PressurePublisherOptions {
  readonly transport: PressureTransport;
  /** The name callers subscribe to: usually the service's name. */
  readonly name: string;
  /** Reads the score: a `PressureMeter` (its smoothed score and level). Give `meter` or `read`. */
  readonly meter?: PressureMeter;
  /** Reads the score in [0, 1] (a value outside is clamped, NaN skips the publish). Give `meter` or `read`. */
  readonly read?: () => number;
  /** Time between publishes (ms). Default 1000. */
  readonly interval?: number;
  /** Validity of each message at its subscribers (ms), > `interval`. Default 3 intervals. */
  readonly ttl?: number;
  /** Identifies this instance among those publishing under the same name. Default a random UUID. */
  readonly instance?: string;
  readonly clock?: Clock;
}

export interface PressurePublisherEvents {
  /** A publish failed (the transport threw); the next interval tries again. Channel `sluice:pressure-bus:error`. */
  readonly error: { readonly publisher: string; readonly at: number; readonly error: unknown };
}

export interface PressurePublisher {
  readonly name: string;
  readonly instance: string;
  /** Publishes now and then every `interval` until `stop()` (idempotent). */
  start(): void;
  stop(): void;
  /** Publishes the current reading once; resolves when the transport has sent it. */
  publish(): Promise<void>;
  on<K extends keyof PressurePublisherEvents & string>(
    name: K,
    listener: (event: PressurePublisherEvents[K]) => void,
  ): () => void;
}

/**
 * Publishes a service's pressure under its name every `interval`, for its callers' `subscribePressure`.
 *
 * ```ts
 * const meter = new PressureMeter();
 * pressurePublisher({ transport: redisPressureTransport({ redis }), name: 'orders', meter }).start();
 * ```
 */
export function pressurePublisher(options: PressurePublisherOptions): PressurePublisher {
  return new Publisher(options);
}

class Publisher implements PressurePublisher {
  readonly name: string;
  readonly instance: string;
  readonly #transport: PressureTransport;
  readonly #read: () => { score: number; level?: PressureLevel };
  readonly #interval: number;
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #events = new Events<PressurePublisherEvents>('pressure-bus');
  #seq = 0;
  #timer: Timer | undefined = undefined;
  readonly #tick = (): void => {
    this.#timer = this.#clock.setTimer(this.#tick, this.#interval, { ref: false });
    void this.publish();
  };

  constructor(o: PressurePublisherOptions) {
    if (typeof o !== 'object' || o === null) throw new ConfigError('options', o, 'an options object');
    this.#transport = transportOption(o.transport);
    this.name = pressureName('name', o.name);
    if ((o.meter === undefined) === (o.read === undefined)) {
      throw new ConfigError(
        'meter',
        o.meter,
        'a PressureMeter, or absent when read is given (give one of them)',
      );
    }
    if (o.meter !== undefined) {
      const meter = o.meter;
      if (typeof meter !== 'object' || meter === null || typeof meter.score !== 'number') {
        throw new ConfigError('meter', meter, 'a PressureMeter');
      }
      this.#read = () => ({ score: meter.score, level: meter.level });
    } else {
      const read = func<() => number>('read', o.read);
      this.#read = () => ({ score: read() });
    }
    this.#interval = positive('interval', or(o.interval, 1000));
    this.#ttl = positive('ttl', or(o.ttl, 3 * this.#interval));
    if (!(this.#ttl > this.#interval))
      throw new ConfigError('ttl', this.#ttl, `> interval (${this.#interval})`);
    const instance = or(o.instance, randomUUID());
    if (typeof instance !== 'string' || instance === '' || instance.length > 100) {
      throw new ConfigError('instance', instance, 'a non-empty string of at most 100 characters');
    }
    this.instance = instance;
    this.#clock = or(o.clock, systemClock);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#tick();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async publish(): Promise<void> {
    let reading: { score: number; level?: PressureLevel };
    try {
      reading = this.#read();
    } catch (error) {
      this.#failed(error);
      return;
    }
    if (typeof reading.score !== 'number' || Number.isNaN(reading.score)) return;
    const message: PressureMessage = {
      v: 1,
      instance: this.instance,
      seq: ++this.#seq,
      score: Math.min(1, Math.max(0, reading.score)),
      ...(reading.level === undefined ? {} : { level: reading.level }),
      ttl: this.#ttl,
    };
    try {
      await this.#transport.publish(this.name, JSON.stringify(message));
    } catch (error) {
      this.#failed(error);
    }
  }

  on<K extends keyof PressurePublisherEvents & string>(
    name: K,
    listener: (event: PressurePublisherEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  #failed(error: unknown): void {
    if (this.#events.wants('error')) {
      this.#events.emit('error', { publisher: this.name, at: this.#clock.now(), error });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Subscriber

export interface PressureSubscriberOptions {
  readonly transport: PressureTransport;
  /** The name the downstream publishes under. */
  readonly name: string;
  /**
   * How long a reading stays valid after it arrives (ms), measured on this subscriber's clock (the
   * publisher's clock is never read, so skew between hosts does not matter). Default the `ttl` each message
   * carries (3 of its publisher's intervals).
   */
  readonly ttl?: number;
  /**
   * How the readings of the downstream's instances combine: `"max"` (the most pressed instance sets the
   * pace, since a balancer keeps sending it its share) or `"mean"`. Default `"max"`.
   */
  readonly combine?: 'max' | 'mean';
  /** Most instances remembered; a new one beyond it replaces the one heard from longest ago. Default 1000. */
  readonly maxInstances?: number;
  readonly clock?: Clock;
}

export interface PressureSubscriberEvents {
  /** The combined pressure changed (`undefined` once every reading expired). Channel `sluice:pressure-bus:change`. */
  readonly change: {
    readonly subscriber: string;
    readonly at: number;
    readonly pressure: number | undefined;
    readonly previous: number | undefined;
    /** Instances with a fresh reading. */
    readonly instances: number;
  };
  /** An instance's reading expired unreplaced. Channel `sluice:pressure-bus:stale`. */
  readonly stale: { readonly subscriber: string; readonly at: number; readonly instance: string };
}

export interface PressureSubscriber extends PressureSignal {
  readonly name: string;
  /** Combined pressure of the instances with a fresh reading, or `undefined` when none has one. */
  readonly pressure: number | undefined;
  /** Instances with a fresh reading. */
  readonly instances: number;
  /** Messages dropped as malformed or out of order. */
  readonly invalid: number;
  onChange(listener: (pressure: number | undefined) => void): () => void;
  on<K extends keyof PressureSubscriberEvents & string>(
    name: K,
    listener: (event: PressureSubscriberEvents[K]) => void,
  ): () => void;
  /** Unsubscribes; the pressure becomes unknown. */
  close(): Promise<void>;
}

/**
 * Subscribes to the pressure a downstream publishes under `name`. Resolves once subscribed.
 *
 * ```ts
 * const orders = await subscribePressure({ transport, name: 'orders' });
 * const limiter = createLimiter({ limit: pressureCap(defaultLimit(), { signal: orders }) });
 * ```
 */
export async function subscribePressure(options: PressureSubscriberOptions): Promise<PressureSubscriber> {
  const subscriber = new Subscriber(options);
  await subscriber.subscribe();
  return subscriber;
}

interface Reading {
  score: number;
  seq: number;
  expiresAt: number;
}

class Subscriber implements PressureSubscriber {
  readonly name: string;
  readonly #transport: PressureTransport;
  readonly #ttl: number | undefined;
  readonly #mean: boolean;
  readonly #maxInstances: number;
  readonly #clock: Clock;
  readonly #events = new Events<PressureSubscriberEvents>('pressure-bus');
  /** Insertion order is the order of last arrival: the first entry was heard from longest ago. */
  readonly #readings = new Map<string, Reading>();
  #listeners: ((pressure: number | undefined) => void)[] = [];
  #pressure: number | undefined = undefined;
  #invalid = 0;
  #timer: Timer | undefined = undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #unsubscribe: (() => Promise<void>) | undefined = undefined;
  #closed = false;

  constructor(o: PressureSubscriberOptions) {
    if (typeof o !== 'object' || o === null) throw new ConfigError('options', o, 'an options object');
    this.#transport = transportOption(o.transport);
    this.name = pressureName('name', o.name);
    this.#ttl = o.ttl === undefined ? undefined : positive('ttl', o.ttl);
    this.#mean = oneOf('combine', or(o.combine, 'max'), ['max', 'mean']) === 'mean';
    this.#maxInstances = integer('maxInstances', or(o.maxInstances, 1000), 1);
    this.#clock = or(o.clock, systemClock);
  }

  async subscribe(): Promise<void> {
    this.#unsubscribe = await this.#transport.subscribe(this.name, (message) => this.#receive(message));
  }

  get pressure(): number | undefined {
    return this.#pressure;
  }

  get instances(): number {
    return this.#readings.size;
  }

  get invalid(): number {
    return this.#invalid;
  }

  onChange(listener: (pressure: number | undefined) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  on<K extends keyof PressureSubscriberEvents & string>(
    name: K,
    listener: (event: PressureSubscriberEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#readings.clear();
    this.#update();
    await this.#unsubscribe?.();
  }

  #receive(text: string): void {
    if (this.#closed) return;
    const message = parse(text);
    if (message === undefined) {
      this.#invalid++;
      return;
    }
    const now = this.#clock.now();
    const known = this.#readings.get(message.instance);
    if (known !== undefined) {
      if (message.seq <= known.seq) {
        this.#invalid++;
        return;
      }
      this.#readings.delete(message.instance);
    } else if (this.#readings.size >= this.#maxInstances) {
      const oldest = this.#readings.keys().next().value;
      if (oldest !== undefined) this.#readings.delete(oldest);
    }
    const expiresAt = now + (this.#ttl ?? message.ttl);
    this.#readings.set(message.instance, { score: message.score, seq: message.seq, expiresAt });
    this.#update();
    if (expiresAt < this.#timerAt) this.#schedule(expiresAt);
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#closed) return;
    const now = this.#clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [instance, r] of this.#readings) {
      if (r.expiresAt <= now) {
        this.#readings.delete(instance);
        if (this.#events.wants('stale')) {
          this.#events.emit('stale', { subscriber: this.name, at: now, instance });
        }
      } else if (r.expiresAt < next) {
        next = r.expiresAt;
      }
    }
    this.#update();
    if (next !== Number.POSITIVE_INFINITY) this.#schedule(next);
  }

  #schedule(at: number): void {
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimer(() => this.#expire(), at - this.#clock.now(), { ref: false });
  }

  #update(): void {
    let pressure: number | undefined;
    if (this.#readings.size > 0) {
      let sum = 0;
      let max = 0;
      for (const r of this.#readings.values()) {
        sum += r.score;
        if (r.score > max) max = r.score;
      }
      pressure = this.#mean ? sum / this.#readings.size : max;
    }
    const previous = this.#pressure;
    if (pressure === previous) return;
    this.#pressure = pressure;
    for (const l of this.#listeners) {
      try {
        l(pressure);
      } catch (error) {
        // A throwing listener must not stop the others, nor the expiry timer that called it.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    if (this.#events.wants('change')) {
      this.#events.emit('change', {
        subscriber: this.name,
        at: this.#clock.now(),
        pressure,
        previous,
        instances: this.#readings.size,
      });
    }
  }
}

/** A well-formed message, or undefined. */
function parse(text: string): PressureMessage | undefined {
  if (typeof text !== 'string' || text.length > MAX_MESSAGE) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as Record<string, unknown>;
  const { v, instance, seq, score, ttl } = r;
  if (v !== 1 || typeof instance !== 'string' || instance === '') return undefined;
  if (typeof seq !== 'number' || !Number.isFinite(seq)) return undefined;
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return undefined;
  if (typeof ttl !== 'number' || !(ttl > 0 && ttl < Number.POSITIVE_INFINITY)) return undefined;
  return m as PressureMessage;
}

function transportOption(value: unknown): PressureTransport {
  const t = value as PressureTransport;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof t.publish !== 'function' ||
    typeof t.subscribe !== 'function'
  ) {
    throw new ConfigError(
      'transport',
      value,
      'a PressureTransport (memoryTransport(), redisPressureTransport() or natsPressureTransport())',
    );
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// In-memory transport

/**
 * A transport inside one process, for tests and single-process setups. Messages are delivered on a later
 * microtask, as a network would, never inside `publish`.
 */
export function memoryTransport(): PressureTransport {
  const subscribers = new Map<string, Set<(message: string) => void>>();
  return {
    publish(name: string, message: string): Promise<void> {
      const set = subscribers.get(name);
      if (set !== undefined) {
        for (const listener of [...set]) queueMicrotask(() => listener(message));
      }
      return Promise.resolve();
    },
    subscribe(name: string, listener: (message: string) => void): Promise<() => Promise<void>> {
      let set = subscribers.get(name);
      if (set === undefined) {
        set = new Set();
        subscribers.set(name, set);
      }
      // Each subscription is its own entry, even for the same function.
      const entry = (message: string): void => listener(message);
      set.add(entry);
      return Promise.resolve(() => {
        set.delete(entry);
        if (set.size === 0 && subscribers.get(name) === set) subscribers.delete(name);
        return Promise.resolve();
      });
    },
  };
}
