import { type Clock, sleep, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { func, integer, nonNegative, or } from '../core/validate.ts';
import { classifyError } from '../limiter/classify.ts';
import { createLimiter } from '../limiter/limiter.ts';
import type { ErrorClassifier, Limiter, Outcome, Permit } from '../limiter/types.ts';
import { gradient2 } from '../limits/gradient2.ts';
import type { Limit, LimitChange } from '../limits/limit.ts';
import { windowed } from '../limits/windowed.ts';
import type { Backoff, RandomSource } from '../policies/backoff/backoff.ts';
import { fullJitterBackoff } from '../policies/backoff/full-jitter.ts';
import { PriorityBuffer } from './buffer.ts';
import { consumerCollector } from './collector.ts';
import { ConsumerStoppedError } from './errors.ts';
import type {
  Consumer,
  ConsumerCollector,
  ConsumerEvents,
  ConsumerMessage,
  ConsumerOptions,
  ConsumerSnapshot,
  ConsumerSource,
  ConsumerState,
  DeadLetterInfo,
  HandlerContext,
  MessageHandler,
  ShedReason,
  StopOptions,
} from './types.ts';

/** A message without a permit waits in the buffer: that is not a rejection (see `AcquireOptions.orWait`). */
const WAITING = { orWait: true } as const;

/** Backoff after a failed receive (ms): doubles from the first to the last. */
const RECEIVE_RETRY_FIRST = 100;
const RECEIVE_RETRY_LAST = 5000;
/** Housekeeping (touch, expiry) never runs more often than this (ms). */
const MIN_TICK = 10;

type EntryState = 'buffered' | 'running' | 'settling';

/** A message the consumer holds, from its receipt to its settlement. */
class Entry<M extends ConsumerMessage> {
  readonly message: M;
  readonly priority: number;
  readonly seq: number;
  readonly receivedAt: number;
  state: EntryState = 'buffered';
  startedAt = 0;

  constructor(message: M, priority: number, seq: number, receivedAt: number) {
    this.message = message;
    this.priority = priority;
    this.seq = seq;
    this.receivedAt = receivedAt;
  }
}

/**
 * The adaptive consumer: receives from a `ConsumerSource`, runs the handler under an adaptive concurrency
 * limit, and settles every message with the broker.
 *
 * Invariants:
 * - A message is acknowledged only after its handler's promise resolved; a failure is redelivered (or
 *   dead-lettered after `maxDeliveries`); a message not handled is handed back. No message the consumer
 *   received is settled twice or forgotten: each leaves `#held` exactly once, through `#settle`.
 * - The consumer asks the source for at most `window - held` messages, so it holds at most its window
 *   (`limit + buffer`) at the time of asking. When the limit falls, buffered messages beyond the new window
 *   go back at once; running ones finish.
 * - Handlers in flight never exceed the limiter's limit (the limiter admits them).
 */
class AdaptiveConsumer<M extends ConsumerMessage> implements Consumer {
  readonly name: string;
  readonly #source: ConsumerSource<M>;
  readonly #handler: MessageHandler<M>;
  readonly #clock: Clock;
  readonly #limiter: Limiter;
  readonly #bufferOption: number | 'auto';
  readonly #maxDeliveries: number;
  readonly #backoff: Backoff;
  readonly #random: RandomSource;
  readonly #classify: ErrorClassifier;
  readonly #shedWhen: ((message: M) => boolean) | undefined;
  readonly #shedDelay: number;
  readonly #maxWait: number;
  readonly #onDeadLetter: ((message: M, info: DeadLetterInfo) => unknown) | undefined;
  readonly #priorityOf: (message: M) => number;
  readonly #events = new Events<ConsumerEvents>('consumer');

  #state: ConsumerState = 'idle';
  #window: number;
  readonly #buffer = new PriorityBuffer<Entry<M>>();
  readonly #held = new Set<Entry<M>>();
  #seq = 0;
  #inflight = 0;
  #pumping = false;
  #pausedUntil = Number.NEGATIVE_INFINITY;
  #abandoning = false;

  readonly #intakeAbort = new AbortController();
  readonly #handlerAbort = new AbortController();
  readonly #context: HandlerContext;
  #intake: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined = undefined;
  #drained: (() => void) | undefined = undefined;
  #started: Promise<void> | undefined = undefined;
  #stopped: Promise<void> | undefined = undefined;
  #tick: Timer | undefined = undefined;
  #lastTouch = 0;

  // Counters since start.
  #received = 0;
  #redelivered = 0;
  #acked = 0;
  #failed = 0;
  #retried = 0;
  #shed = 0;
  #deadLettered = 0;
  #errors = 0;
  #abandoned = 0;

  readonly collector: ConsumerCollector;

  constructor(source: ConsumerSource<M>, options: ConsumerOptions<M>) {
    if (typeof source !== 'object' || source === null) {
      throw new ConfigError('source', source, 'a ConsumerSource (an object with receive, ack, requeue...)');
    }
    for (const method of ['receive', 'ack', 'requeue', 'deadLetter', 'close'] as const) {
      if (typeof source[method] !== 'function') {
        throw new ConfigError('source', source, `a ConsumerSource (an object with a ${method}() method)`);
      }
    }
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('options', options, 'an object');
    this.#source = source;
    this.#handler = func('handler', options.handler);
    this.name = or(options.name, source.name);
    if (typeof this.name !== 'string' || this.name === '') {
      throw new ConfigError('name', options.name ?? source.name, 'a non-empty string');
    }
    this.#clock = options.clock ?? systemClock;
    if (typeof this.#clock.now !== 'function' || typeof this.#clock.setTimer !== 'function') {
      throw new ConfigError('clock', options.clock, 'a Clock');
    }
    const buffer = options.buffer ?? 'auto';
    this.#bufferOption = buffer === 'auto' ? buffer : integer('buffer', buffer, 0);
    this.#maxDeliveries = integer('maxDeliveries', or(options.maxDeliveries, 5), 1);
    this.#backoff = options.backoff ?? fullJitterBackoff({ base: 1000, max: 60_000 });
    if (typeof this.#backoff?.delay !== 'function') {
      throw new ConfigError('backoff', options.backoff, 'a Backoff (e.g. exponentialBackoff())');
    }
    this.#random = options.random === undefined ? Math.random : func('random', options.random);
    this.#classify = options.classify === undefined ? classifyError : func('classify', options.classify);
    this.#shedWhen = options.shed === undefined ? undefined : func('shed', options.shed);
    this.#shedDelay = finiteNonNegative('shedDelay', or(options.shedDelay, 1000));
    this.#maxWait = nonNegative('maxWait', or(options.maxWait, 30_000));
    if (this.#maxWait === 0) throw new ConfigError('maxWait', 0, 'a number > 0 (Infinity allowed)');
    this.#onDeadLetter =
      options.onDeadLetter === undefined ? undefined : func('onDeadLetter', options.onDeadLetter);
    this.#priorityOf =
      options.priority === undefined ? (m: M) => m.priority : func('priority', options.priority);

    this.#limiter = createLimiter({
      name: this.name,
      limit: limitOption(options.limit),
      clock: this.#clock,
      queue: false,
    });
    this.#window = this.#windowFor(this.#limiter.limit);
    this.#limiter.on('limit', (change) => this.#onLimit(change));
    this.#context = { signal: this.#handlerAbort.signal };
    this.collector = consumerCollector(this.name, this.#clock, () => this.snapshot());
  }

  get state(): ConsumerState {
    return this.#state;
  }

  on<K extends keyof ConsumerEvents & string>(
    name: K,
    listener: (event: ConsumerEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  stop(options?: StopOptions): Promise<void> {
    const timeout = options?.timeout ?? Number.POSITIVE_INFINITY;
    if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
      return Promise.reject(new ConfigError('stop.timeout', timeout, 'a number >= 0 (Infinity allowed)'));
    }
    this.#stopped ??= this.#stop(timeout);
    return this.#stopped;
  }

  snapshot(): ConsumerSnapshot {
    return {
      name: this.name,
      state: this.#state,
      limit: this.#limiter.limit,
      window: this.#window,
      inflight: this.#inflight,
      buffered: this.#buffer.size,
      held: this.#held.size,
      received: this.#received,
      redelivered: this.#redelivered,
      acked: this.#acked,
      failed: this.#failed,
      retried: this.#retried,
      shed: this.#shed,
      deadLettered: this.#deadLettered,
      errors: this.#errors,
      abandoned: this.#abandoned,
    };
  }

  // --- lifecycle -------------------------------------------------------------------------------------

  async #start(): Promise<void> {
    if (this.#state !== 'idle') return; // stopped before it started
    this.#state = 'starting';
    try {
      await this.#source.open?.(this.#window);
    } catch (error) {
      this.#state = 'stopped';
      this.#stopped ??= Promise.resolve();
      // Whatever the source opened before it failed.
      await this.#source.close().catch(() => {});
      throw error;
    }
    this.#state = 'running';
    this.#armTick();
    this.#intake = this.#receiveLoop();
  }

  async #stop(timeout: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'starting') await this.#started?.catch(() => {});
    if (this.#state === 'stopped') return;
    this.#state = 'stopping';
    this.#intakeAbort.abort();
    this.#wake?.();
    await this.#intake;
    try {
      await this.#source.stop?.();
    } catch (error) {
      this.#error('stop', error);
    }
    // Nothing new starts once stopping: what waits for a turn goes back to the broker at once.
    for (const entry of this.#buffer.drain()) this.#giveBack(entry, 'stop', 0);
    if (!(await this.#allSettled(timeout))) {
      this.#abandoning = true;
      this.#abandoned = this.#inflight;
      this.#handlerAbort.abort(new ConsumerStoppedError(this.name, timeout));
    }
    try {
      await this.#source.close();
    } catch (error) {
      this.#error('close', error);
    }
    this.#tick?.cancel();
    this.#tick = undefined;
    this.#state = 'stopped';
    if (this.#events.wants('stop')) {
      this.#events.emit('stop', { consumer: this.name, at: this.#clock.now(), abandoned: this.#abandoned });
    }
  }

  /** Resolves true once nothing is held, or false after `timeout` ms. */
  #allSettled(timeout: number): Promise<boolean> {
    if (this.#held.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = Number.isFinite(timeout)
        ? this.#clock.setTimer(() => {
            this.#drained = undefined;
            resolve(false);
          }, timeout)
        : undefined;
      this.#drained = () => {
        timer?.cancel();
        this.#drained = undefined;
        resolve(true);
      };
    });
  }

  // --- intake ----------------------------------------------------------------------------------------

  async #receiveLoop(): Promise<void> {
    const signal = this.#intakeAbort.signal;
    let failures = 0;
    while (!signal.aborted) {
      const now = this.#clock.now();
      if (this.#pausedUntil > now) {
        await this.#sleep(this.#pausedUntil - now, signal);
        continue;
      }
      const room = this.#window - this.#held.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      try {
        await this.#source.receive(room, this.#deliver, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        this.#error('receive', error);
        failures++;
        const delay = Math.min(RECEIVE_RETRY_LAST, RECEIVE_RETRY_FIRST * 2 ** (failures - 1));
        await this.#sleep(delay, signal);
      }
    }
  }

  /** Sleeps on the clock; wakes early (without throwing) when `signal` aborts. */
  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await sleep(this.#clock, ms, signal);
    } catch {
      // aborted: the loop checks the signal
    }
  }

  /** Room appeared (something settled, or the window grew): the receive loop may ask for more. */
  #notifyRoom(): void {
    if (this.#wake !== undefined && this.#held.size < this.#window) this.#wake();
  }

  readonly #deliver = (message: M): void => {
    let priority: number;
    try {
      priority = Number(this.#priorityOf(message)) || 0;
    } catch {
      priority = 0;
    }
    const entry = new Entry(message, priority, this.#seq++, this.#clock.now());
    this.#held.add(entry);
    this.#received++;
    if (message.deliveries > 1) this.#redelivered++;
    if (this.#state !== 'running') {
      this.#giveBack(entry, 'stop', 0);
      return;
    }
    this.#buffer.push(entry);
    this.#pump();
  };

  // --- dispatch --------------------------------------------------------------------------------------

  /** Starts handlers for the buffered messages, most important first, while the limiter admits them. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#state === 'running') {
        const entry = this.#buffer.peek();
        if (entry === undefined) break;
        if (this.#shouldShed(entry)) {
          this.#buffer.shift();
          this.#giveBack(entry, 'pressure', this.#shedDelay);
          // Shedding everything received would only churn the backlog: receive no more for a while.
          this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + this.#shedDelay);
          continue;
        }
        const permit = this.#limiter.tryAcquire(WAITING);
        if (permit === undefined) break;
        this.#buffer.shift();
        void this.#run(entry, permit);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #shouldShed(entry: Entry<M>): boolean {
    if (this.#shedWhen === undefined) return false;
    try {
      return this.#shedWhen(entry.message) === true;
    } catch (error) {
      this.#error('shed', error, entry.message.id);
      return false;
    }
  }

  async #run(entry: Entry<M>, permit: Permit): Promise<void> {
    entry.state = 'running';
    entry.startedAt = this.#clock.now();
    this.#inflight++;
    let failure: unknown;
    let failed = false;
    try {
      await this.#handler(entry.message, this.#context);
    } catch (error) {
      failed = true;
      failure = error;
    }
    this.#inflight--;
    if (failed) permit.release(this.#outcome(failure));
    else permit.success();
    if (this.#abandoning) {
      // The stop gave up on this handler and closed the source: the broker redelivers the message.
      this.#release(entry);
      return;
    }
    entry.state = 'settling';
    this.#pump();
    if (!failed) {
      if (await this.#settle(entry, 'ack', () => this.#source.ack(entry.message))) {
        this.#acked++;
        if (this.#events.wants('ack')) {
          const at = this.#clock.now();
          this.#events.emit('ack', {
            consumer: this.name,
            at,
            id: entry.message.id,
            deliveries: entry.message.deliveries,
            latency: at - entry.startedAt,
          });
        }
      }
      return;
    }
    this.#failed++;
    const deliveries = entry.message.deliveries;
    if (deliveries >= this.#maxDeliveries) {
      await this.#deadLetter(entry, failure);
      return;
    }
    const delayMs = this.#retryDelay(deliveries);
    if (await this.#settle(entry, 'requeue', () => this.#source.requeue(entry.message, delayMs, true))) {
      this.#retried++;
      if (this.#events.wants('retry')) {
        this.#events.emit('retry', {
          consumer: this.name,
          at: this.#clock.now(),
          id: entry.message.id,
          deliveries,
          delayMs,
          error: failure,
        });
      }
    }
  }

  async #deadLetter(entry: Entry<M>, error: unknown): Promise<void> {
    const message = entry.message;
    const info: DeadLetterInfo = { error, reason: reasonOf(error), deliveries: message.deliveries };
    let settled: boolean;
    if (this.#onDeadLetter !== undefined) {
      const take = this.#onDeadLetter;
      try {
        await take(message, info);
      } catch (failure) {
        // Not taken: it must not be lost, so it comes back later (and here again).
        this.#error('dead-letter', failure, message.id);
        const delayMs = this.#retryDelay(message.deliveries);
        await this.#settle(entry, 'requeue', () => this.#source.requeue(message, delayMs, false));
        return;
      }
      settled = await this.#settle(entry, 'ack', () => this.#source.ack(message));
    } else {
      settled = await this.#settle(entry, 'dead-letter', () => this.#source.deadLetter(message, info));
    }
    if (!settled) return;
    this.#deadLettered++;
    if (this.#events.wants('dead-letter')) {
      this.#events.emit('dead-letter', {
        consumer: this.name,
        at: this.#clock.now(),
        id: message.id,
        ...info,
      });
    }
  }

  /** Hands a message back unhandled. */
  #giveBack(entry: Entry<M>, reason: ShedReason, delayMs: number): void {
    this.#shed++;
    if (this.#events.wants('shed')) {
      this.#events.emit('shed', {
        consumer: this.name,
        at: this.#clock.now(),
        id: entry.message.id,
        reason,
        priority: entry.priority,
        delayMs,
      });
    }
    entry.state = 'settling';
    void this.#settle(entry, 'requeue', () => this.#source.requeue(entry.message, delayMs, false));
  }

  /**
   * Runs one broker operation that settles `entry`, and lets go of the entry whatever its outcome: a failed
   * operation leaves the message with the broker, unacknowledged, and the broker redelivers it.
   */
  async #settle(
    entry: Entry<M>,
    operation: 'ack' | 'requeue' | 'dead-letter',
    settle: () => Promise<void>,
  ): Promise<boolean> {
    try {
      await settle();
      return true;
    } catch (error) {
      this.#error(operation, error, entry.message.id);
      return false;
    } finally {
      this.#release(entry);
    }
  }

  #release(entry: Entry<M>): void {
    if (!this.#held.delete(entry)) return;
    this.#notifyRoom();
    if (this.#held.size === 0) this.#drained?.();
  }

  #outcome(error: unknown): Outcome {
    try {
      return this.#classify(error);
    } catch {
      return 'ignore';
    }
  }

  #retryDelay(deliveries: number): number {
    const delay = this.#backoff.delay(deliveries, 0, this.#random);
    return Number.isFinite(delay) && delay > 0 ? delay : 0;
  }

  // --- the limit and the window ---------------------------------------------------------------------

  #windowFor(limit: number): number {
    const buffer = this.#bufferOption === 'auto' ? Math.max(1, Math.ceil(limit / 4)) : this.#bufferOption;
    return limit + buffer;
  }

  #onLimit(change: LimitChange): void {
    const previous = this.#window;
    const window = this.#windowFor(change.limit);
    if (window === previous) return;
    this.#window = window;
    if (this.#events.wants('window')) {
      this.#events.emit('window', {
        consumer: this.name,
        at: this.#clock.now(),
        limit: change.limit,
        window,
        previous,
        change,
      });
    }
    if (this.#state === 'running' || this.#state === 'starting') {
      const source = this.#source;
      if (source.window !== undefined) this.#background('window', () => source.window!(window));
    }
    if (window > previous) {
      this.#notifyRoom();
      this.#pump();
      return;
    }
    // A lower limit: messages beyond the new window that no handler has started go back, least important first.
    while (this.#held.size > window && this.#buffer.size > 0) {
      this.#giveBack(this.#buffer.evict()!, 'limit', 0);
    }
  }

  // --- housekeeping: heartbeats and expiry ----------------------------------------------------------

  #tickInterval(): number {
    const touch = this.#source.touchInterval;
    const expiry = this.#maxWait / 2;
    const interval = Math.min(touch !== undefined && touch > 0 ? touch : Infinity, expiry);
    return Number.isFinite(interval) ? Math.max(MIN_TICK, interval) : Infinity;
  }

  #armTick(): void {
    const interval = this.#tickInterval();
    if (!Number.isFinite(interval)) return;
    this.#lastTouch = this.#clock.now();
    const tick = (): void => {
      this.#housekeep();
      if (this.#state === 'running' || this.#state === 'stopping') {
        this.#tick = this.#clock.setTimer(tick, interval, { ref: false });
      }
    };
    this.#tick = this.#clock.setTimer(tick, interval, { ref: false });
  }

  #housekeep(): void {
    const now = this.#clock.now();
    if (Number.isFinite(this.#maxWait) && this.#buffer.size > 0) {
      const expired = this.#buffer.removeWhere((e) => now - e.receivedAt > this.#maxWait);
      for (const entry of expired) this.#giveBack(entry, 'expired', 0);
    }
    const touchInterval = this.#source.touchInterval;
    if (
      this.#source.touch !== undefined &&
      touchInterval !== undefined &&
      now - this.#lastTouch >= touchInterval
    ) {
      this.#lastTouch = now;
      const messages: M[] = [];
      for (const entry of this.#held) if (entry.state !== 'settling') messages.push(entry.message);
      if (messages.length > 0) {
        const source = this.#source;
        this.#background('touch', () => source.touch!(messages));
      }
    }
  }

  /** Runs a broker operation nobody waits for; its failure (thrown or rejected) becomes an `error` event. */
  #background(operation: 'window' | 'touch', call: () => Promise<void>): void {
    try {
      call().catch((error: unknown) => this.#error(operation, error));
    } catch (error) {
      this.#error(operation, error);
    }
  }

  // --- observability ---------------------------------------------------------------------------------

  #error(operation: ConsumerEvents['error']['operation'], error: unknown, id?: string): void {
    this.#errors++;
    if (this.#events.wants('error')) {
      const base = { consumer: this.name, at: this.#clock.now(), operation, error };
      this.#events.emit('error', id === undefined ? base : { ...base, id });
    }
  }
}

function limitOption(value: Limit | number | undefined): Limit | number {
  if (value === undefined) return windowed(gradient2({ initial: 10, max: 500 }), { percentile: 0.5 });
  return value;
}

function finiteNonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(option, value, 'a finite number >= 0');
  }
  return value;
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/**
 * Creates an adaptive consumer over a broker adapter. The adapters of sluice build one for you
 * (`rabbitmqConsumer`, `jetstreamConsumer`, `redisStreamConsumer`); use this directly for another broker.
 *
 * ```ts
 * const consumer = createConsumer(source, {
 *   handler: async (message) => sink.write(message.body), // acked once this resolves
 *   maxDeliveries: 5,
 * });
 * await consumer.start();
 * // ...
 * await consumer.stop(); // stops receiving, finishes what runs, acks, closes
 * ```
 */
export function createConsumer<M extends ConsumerMessage>(
  source: ConsumerSource<M>,
  options: ConsumerOptions<M>,
): Consumer {
  return new AdaptiveConsumer(source, options);
}
