import type { Clock } from '../core/clock.ts';
import type { ErrorClassifier } from '../limiter/types.ts';
import type { Limit, LimitChange } from '../limits/limit.ts';
import type { Backoff, RandomSource } from '../policies/backoff/backoff.ts';
import type { Collector, Readings } from '../scale/types.ts';

/**
 * One delivery of a message, as the handler sees it. Adapters extend it with their broker's body type and
 * the broker's own message object (`raw`).
 */
export interface ConsumerMessage<Body = unknown, Raw = unknown> {
  /** The broker's identity for the message: a stream entry ID, a JetStream stream sequence, an AMQP message ID. */
  readonly id: string;
  /** The payload: bytes (RabbitMQ, NATS) or fields (Redis Streams). */
  readonly body: Body;
  /**
   * Deliveries of this message so far, this one included: 1 on the first. A delivery after a failure, after
   * shedding or after a consumer died counts, as the broker counts it (see each adapter).
   */
  readonly deliveries: number;
  /**
   * Priority among the messages this consumer holds: higher goes first, messages without one are 0. Adapters
   * read the broker's priority (AMQP's `priority` property) or a `priority` header or field, which may be a
   * number or a criticality name (`critical` 2, `high` 1, `normal` 0, `low` -1, `sheddable` -2).
   */
  readonly priority: number;
  /** The broker's message object (an amqplib message, a `JsMsg`, a stream entry). */
  readonly raw: Raw;
}

export interface HandlerContext {
  /**
   * Aborted when a stop gives up waiting for the handler (`stop({ timeout })`): the message will not be
   * acknowledged, so the broker redelivers it; the handler may as well stop.
   */
  readonly signal: AbortSignal;
}

/**
 * Handles one message. The message is acknowledged only once the returned promise resolves, so the promise
 * must cover everything that makes the message's effect durable: a sink's confirmation, or, for a batched
 * sink, the commit of the batch that holds it. A rejection (or a throw) is a failed delivery: the message
 * is redelivered later, and dead-lettered after `maxDeliveries`.
 */
export type MessageHandler<M> = (message: M, context: HandlerContext) => unknown;

/** Why a message went to the dead letters. */
export interface DeadLetterInfo {
  /** The last handler failure. */
  readonly error: unknown;
  /** Its message, for headers and fields. */
  readonly reason: string;
  /** Deliveries the message had, the last included. */
  readonly deliveries: number;
}

/**
 * What the consumer engine needs of a broker. The engine owns the pacing (how much to receive, when to
 * stop); the adapter owns the broker's protocol. The three adapters of sluice (RabbitMQ, NATS JetStream,
 * Redis Streams) implement it; any other broker can.
 *
 * Contract:
 * - `receive` delivers at most `max` messages, each once, and waits (up to a broker-specific time) for at
 *   least one unless `signal` aborts; it returns soon after `signal` aborts.
 * - A message handed to `deliver` stays the engine's until it calls exactly one of `ack`, `requeue` or
 *   `deadLetter` for it. The adapter holds no message the engine has not received, except where the broker
 *   pushes (RabbitMQ): then `stop` hands those back.
 * - `requeue` and `deadLetter` must not lose the message: when they reject, the broker still holds it
 *   unacknowledged and redelivers it (to this consumer or another) once it counts as abandoned.
 */
export interface ConsumerSource<M extends ConsumerMessage = ConsumerMessage> {
  /** Names the consumer in events and records, e.g. `"rabbitmq:orders"`. */
  readonly name: string;
  /**
   * How often (ms) the messages held must be reported as still in work (`touch`), e.g. a third of
   * JetStream's ack wait. Absent when the broker needs no heartbeat. Read after `open`.
   */
  readonly touchInterval?: number | undefined;
  /** Connects, declares, subscribes. `window` is the most messages the engine will hold at first. */
  open?(window: number): Promise<void>;
  /** Receives up to `max` (>= 1) messages, handing each to `deliver` as it arrives. */
  receive(max: number, deliver: (message: M) => void, signal: AbortSignal): Promise<void>;
  /** Settles the message as done: the broker forgets it. */
  ack(message: M): Promise<void>;
  /**
   * Hands the message back for redelivery after about `delayMs` (0: at once, or as soon as the broker can).
   * `failed` tells a failed delivery (which counts towards `maxDeliveries`) from a message shed unhandled
   * (which, where the broker allows it, does not).
   */
  requeue(message: M, delayMs: number, failed: boolean): Promise<void>;
  /** Moves the message to the broker's dead letters and settles it, in one step where the broker allows. */
  deadLetter(message: M, info: DeadLetterInfo): Promise<void>;
  /** Reports the messages as still in work, so the broker does not redeliver them to another consumer. */
  touch?(messages: readonly M[]): Promise<void>;
  /** The most messages the engine will hold changed (the limit moved): RabbitMQ sets its prefetch. */
  window?(size: number): Promise<void>;
  /** Stops intake for good and hands back whatever the broker pushed that the engine did not receive. */
  stop?(): Promise<void>;
  /** Releases what the adapter owns (channels, connections). Messages still unsettled go back to the broker. */
  close(): Promise<void>;
}

/** Why a message was handed back unhandled. */
export type ShedReason =
  /** The `shed` option said so (a pressure signal). */
  | 'pressure'
  /** The limit fell and the consumer held more than its new window: the excess goes back. */
  | 'limit'
  /** It waited longer than `maxWait` for a turn. */
  | 'expired'
  /** The consumer stopped before its turn came. */
  | 'stop';

export interface ConsumerOptions<M extends ConsumerMessage = ConsumerMessage> {
  /** Handles each message; see `MessageHandler`. Required. */
  readonly handler: MessageHandler<M>;
  /** Names the consumer in events, records and errors. Default the source's name (e.g. `"redis:orders/workers"`). */
  readonly name?: string;
  /**
   * The limit algorithm for concurrent handlers, or a fixed number. The handler's latency and its failures
   * (by `classify`) teach it. Default `windowed(gradient2({ initial: 10, max: 500 }), { percentile: 0.5 })`.
   */
  readonly limit?: Limit | number;
  /**
   * Messages held beyond the limit, ready for the next free slot, so a handler that finishes finds work
   * without waiting for the broker. The consumer holds at most `limit + buffer` unsettled messages (its
   * window). Default `"auto"`: a quarter of the limit, at least 1.
   */
  readonly buffer?: number | 'auto';
  /** Deliveries after which a failing message is dead-lettered instead of retried, >= 1. Default 5. */
  readonly maxDeliveries?: number;
  /**
   * Delay before a failed message is redelivered, by its delivery count. Default full jitter from 1 s,
   * doubling, at most 60 s (`fullJitterBackoff({ base: 1000, max: 60_000 })`).
   */
  readonly backoff?: Backoff;
  /** Random source for the backoff's jitter. Default `Math.random`. */
  readonly random?: RandomSource;
  /** Maps a handler's error to what the limit learns: drops (overload) back it off. Default `classifyError`. */
  readonly classify?: ErrorClassifier;
  /**
   * Sheds a message instead of handling it, checked when its turn comes: return true under pressure (a
   * downstream's pressure signal, a breaker open), perhaps only for low priorities. A shed message goes back
   * to the broker after `shedDelay`, and intake pauses as long. Default none.
   */
  readonly shed?: (message: M) => boolean;
  /** Delay (ms) before a message shed under pressure is redelivered; intake pauses as long. Default 1000. */
  readonly shedDelay?: number;
  /**
   * Longest a received message waits for a turn (ms) before it goes back to the broker for another consumer.
   * Default 30000.
   */
  readonly maxWait?: number;
  /**
   * Takes a message that failed `maxDeliveries` times, instead of the broker's dead letters (the adapter's
   * dead-letter option). The message is acknowledged once this resolves; if it rejects, the message is
   * redelivered later and comes back here.
   */
  readonly onDeadLetter?: (message: M, info: DeadLetterInfo) => unknown;
  /** Orders the messages held: higher first. Default `message.priority`. */
  readonly priority?: (message: M) => number;
  /** Time source. Default the system clock. */
  readonly clock?: Clock;
}

export interface StopOptions {
  /**
   * Longest to wait for handlers in flight (ms). After it, their signals abort, their messages stay
   * unacknowledged and the broker redelivers them. Default `Infinity`.
   */
  readonly timeout?: number;
}

export type ConsumerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Counts since the consumer started, and its state now. */
export interface ConsumerSnapshot {
  readonly name: string;
  readonly state: ConsumerState;
  /** The concurrency limit for handlers. */
  readonly limit: number;
  /** Most unsettled messages the consumer holds: `limit + buffer`. */
  readonly window: number;
  /** Handlers running. */
  readonly inflight: number;
  /** Messages received and waiting for a turn. */
  readonly buffered: number;
  /** Messages received and not yet settled: buffered, running, or being acknowledged or handed back. */
  readonly held: number;
  readonly received: number;
  /** Messages received that had been delivered before. */
  readonly redelivered: number;
  readonly acked: number;
  /** Handler failures. */
  readonly failed: number;
  /** Failed messages handed back for redelivery. */
  readonly retried: number;
  /** Messages handed back unhandled. */
  readonly shed: number;
  readonly deadLettered: number;
  /** Broker operations that failed (receive, ack, requeue...). */
  readonly errors: number;
  /** Handlers still running when a stop timed out: their messages were left to the broker. */
  readonly abandoned: number;
}

interface EventBase {
  readonly consumer: string;
  readonly at: number;
}

export interface ConsumerEvents {
  /** A message was acknowledged after its handler resolved. */
  readonly ack: EventBase & { readonly id: string; readonly deliveries: number; readonly latency: number };
  /** A failed message was handed back for redelivery. */
  readonly retry: EventBase & {
    readonly id: string;
    readonly deliveries: number;
    readonly delayMs: number;
    readonly error: unknown;
  };
  /** A message was handed back unhandled. */
  readonly shed: EventBase & {
    readonly id: string;
    readonly reason: ShedReason;
    readonly priority: number;
    readonly delayMs: number;
  };
  /** A message failed `maxDeliveries` times and went to the dead letters. */
  readonly 'dead-letter': EventBase & { readonly id: string } & DeadLetterInfo;
  /** The limit moved, and with it the window. */
  readonly window: EventBase & {
    readonly limit: number;
    readonly window: number;
    readonly previous: number;
    readonly change: LimitChange;
  };
  /** A broker operation failed. The consumer goes on; the broker redelivers what it could not settle. */
  readonly error: EventBase & {
    readonly operation:
      | 'receive'
      | 'ack'
      | 'requeue'
      | 'dead-letter'
      | 'touch'
      | 'window'
      | 'stop'
      | 'close'
      | 'shed';
    readonly error: unknown;
    readonly id?: string;
  };
  /** The consumer stopped. */
  readonly stop: EventBase & { readonly abandoned: number };
}

/** The consumer as a collector for the autoscaler (`sluice/scale`): synchronous, no network. */
export interface ConsumerCollector extends Collector {
  collect(signal?: AbortSignal): Readings;
}

export interface Consumer {
  readonly name: string;
  readonly state: ConsumerState;
  /**
   * Opens the source and starts receiving. Resolves once the source is open; rejects if it fails to. A
   * consumer runs once: after a stop, create a new one.
   */
  start(): Promise<void>;
  /**
   * Stops gracefully: stops receiving, hands back messages not started, waits for the handlers in flight and
   * their acknowledgements, then closes the source. Idempotent.
   */
  stop(options?: StopOptions): Promise<void>;
  snapshot(): ConsumerSnapshot;
  /**
   * Readings for the autoscaler, named `consumer:<name>`:
   *
   * | reading          | unit       | meaning                                                  |
   * | ---------------- | ---------- | -------------------------------------------------------- |
   * | `limit`          | handlers   | the concurrency limit now                                |
   * | `window`         | messages   | most unsettled messages held (`limit + buffer`)          |
   * | `inflight`       | handlers   | handlers running                                         |
   * | `buffered`       | messages   | received, waiting for a turn                             |
   * | `held`           | messages   | received, not yet settled                                |
   * | `utilization`    | fraction   | `inflight / limit`                                       |
   * | `ackRate`        | per second | acknowledgements since the previous collect              |
   * | `retryRate`      | per second | failed messages handed back                              |
   * | `shedRate`       | per second | messages handed back unhandled                           |
   * | `deadLetterRate` | per second | messages dead-lettered                                   |
   * | `redeliveryRate` | per second | messages received that had been delivered before         |
   *
   * Rates are absent when no time has passed since the previous collect.
   */
  readonly collector: ConsumerCollector;
  /** Typed events (also on diagnostics_channel `sluice:consumer:<event>`). */
  on<K extends keyof ConsumerEvents & string>(
    name: K,
    listener: (event: ConsumerEvents[K]) => void,
  ): () => void;
}
