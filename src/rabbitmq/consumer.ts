import { createConsumer } from '../consumer/consumer.ts';
import { parsePriority } from '../consumer/priority.ts';
import type {
  Consumer,
  ConsumerMessage,
  ConsumerOptions,
  ConsumerSource,
  DeadLetterInfo,
} from '../consumer/types.ts';
import { ConfigError } from '../core/errors.ts';
import { oneOf, or } from '../core/validate.ts';

/** An AMQP message as amqplib delivers it. */
export interface AmqpMessage {
  readonly content: Buffer;
  readonly fields: { readonly deliveryTag: number; readonly redelivered: boolean };
  readonly properties: {
    readonly headers?: Readonly<Record<string, unknown>> | undefined;
    readonly priority?: unknown;
    readonly messageId?: unknown;
    readonly contentType?: unknown;
    readonly contentEncoding?: unknown;
    readonly deliveryMode?: unknown;
    readonly correlationId?: unknown;
    readonly replyTo?: unknown;
    readonly timestamp?: unknown;
    readonly type?: unknown;
    readonly appId?: unknown;
  };
}

/** Publish options the consumer sets on the copies it publishes (a subset of amqplib's). */
export interface AmqpPublishOptions {
  headers?: Record<string, unknown>;
  priority?: number;
  deliveryMode?: number;
  contentType?: string;
  contentEncoding?: string;
  correlationId?: string;
  replyTo?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  appId?: string;
}

interface AmqpChannelBase {
  assertQueue(
    queue: string,
    options?: { durable?: boolean; arguments?: Record<string, unknown> },
  ): Promise<unknown>;
  close(): Promise<void>;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** What the consumer needs of an amqplib channel. */
export interface AmqpChannel extends AmqpChannelBase {
  prefetch(count: number, global?: boolean): Promise<unknown>;
  consume(
    queue: string,
    onMessage: (message: AmqpMessage | null) => void,
    options?: { noAck?: boolean },
  ): Promise<{ consumerTag: string }>;
  cancel(consumerTag: string): Promise<unknown>;
  ack(message: AmqpMessage): void;
  nack(message: AmqpMessage, allUpTo?: boolean, requeue?: boolean): void;
}

/** What the consumer needs of an amqplib confirm channel. */
export interface AmqpConfirmChannel extends AmqpChannelBase {
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: AmqpPublishOptions,
    callback: (error: unknown) => void,
  ): boolean;
}

/** What the consumer needs of an amqplib connection (`await amqplib.connect(url)`). */
export interface AmqpConnection {
  createChannel(): Promise<AmqpChannel>;
  createConfirmChannel(): Promise<AmqpConfirmChannel>;
}

export type RabbitmqMessage = ConsumerMessage<Buffer, AmqpMessage>;

/** Where dead letters go. */
export type RabbitmqDeadLetter =
  /** A queue (declared durable on first use), through the default exchange. */
  | { readonly queue: string }
  /** An exchange you declared, with a routing key (default the consumed queue's name). */
  | { readonly exchange: string; readonly routingKey?: string }
  /** `basic.nack` without requeue: the queue's own dead-letter exchange takes it, if it has one (else RabbitMQ drops it). */
  | 'reject';

export interface RabbitmqConsumerOptions extends ConsumerOptions<RabbitmqMessage> {
  /** An amqplib connection. The consumer opens its own channels on it and closes them when it stops. */
  readonly connection: AmqpConnection;
  /** The queue to consume (it must exist). */
  readonly queue: string;
  /**
   * How the prefetch follows the window. `"consumer"` (per-consumer QoS) works on every queue type; RabbitMQ
   * applies a new per-consumer prefetch only to consumers started after it, so the consumer re-subscribes
   * when the window changes (messages of the old subscription stay valid until settled). `"channel"` (global
   * QoS) applies at once without re-subscribing, but quorum queues refuse it (RabbitMQ closes the
   * connection): use it for classic queues only. Default `"consumer"`.
   */
  readonly prefetchScope?: 'consumer' | 'channel';
  /**
   * Delays retries and sheds through delay queues: a message to redeliver after `d` ms is published to a
   * queue `<prefix><bucket>` whose messages expire after `bucket` ms (the smallest of 100 ms, 250 ms,
   * 500 ms, 1 s, 2.5 s, 5 s, 10 s, 30 s, 1 min, 5 min, 10 min not below `d`) into the consumed queue, via
   * the default exchange as dead letters; then the original is acknowledged. The queues are declared
   * durable on first use and left in place. `true` uses the prefix `<queue>.delay.`. Without delay queues, a
   * failed message is republished to the back of the queue at once and a shed one is requeued
   * (`basic.nack`) at once. Default false.
   */
  readonly delayQueues?: boolean | { readonly prefix: string };
  /** Where messages go after `maxDeliveries`. Default `{ queue: "<queue>.dead" }`. */
  readonly deadLetter?: RabbitmqDeadLetter;
}

/** Delay queue buckets (ms): a 1-2.5-5 ladder. */
const BUCKETS = [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 600_000];
/** Header holding the deliveries a message had before it was republished (RabbitMQ counts none of them). */
const DELIVERIES_HEADER = 'x-sluice-deliveries';

interface Subscription {
  readonly channel: AmqpChannel;
  readonly confirm: AmqpConfirmChannel;
  /** Set once either channel closes: its deliveries can no longer be settled (RabbitMQ requeued them). */
  closed: boolean;
  tag: string | undefined;
}

class RabbitmqSource implements ConsumerSource<RabbitmqMessage> {
  readonly name: string;
  readonly #connection: AmqpConnection;
  readonly #queue: string;
  readonly #scope: 'consumer' | 'channel';
  readonly #delayPrefix: string | undefined;
  readonly #deadLetter: RabbitmqDeadLetter;
  #sub: Subscription | undefined;
  /** The subscription each delivery came on: a delivery tag means nothing on another channel. */
  readonly #origin = new WeakMap<AmqpMessage, Subscription>();
  /** Deliveries pushed by RabbitMQ and not yet taken by the engine (at most the prefetch). */
  #pushed: AmqpMessage[] = [];
  #wake: (() => void) | undefined;
  #cancelled = false;
  #stopped = false;
  #window = 1;
  #applied = 0;
  #applying: Promise<void> | undefined;
  readonly #declared = new Set<string>();

  constructor(options: RabbitmqConsumerOptions) {
    const connection = options.connection;
    if (
      typeof connection?.createChannel !== 'function' ||
      typeof connection.createConfirmChannel !== 'function'
    ) {
      throw new ConfigError('connection', connection, 'an amqplib connection (from amqplib.connect(url))');
    }
    this.#connection = connection;
    this.#queue = nonEmpty('queue', options.queue);
    this.#scope = oneOf('prefetchScope', or(options.prefetchScope, 'consumer'), [
      'consumer',
      'channel',
    ] as const);
    const delay = options.delayQueues ?? false;
    if (delay === false) this.#delayPrefix = undefined;
    else if (delay === true) this.#delayPrefix = `${this.#queue}.delay.`;
    else if (typeof delay === 'object' && delay !== null)
      this.#delayPrefix = nonEmpty('delayQueues.prefix', delay.prefix);
    else throw new ConfigError('delayQueues', delay, 'a boolean or { prefix }');
    this.#deadLetter = deadLetterOption(options.deadLetter ?? { queue: `${this.#queue}.dead` });
    this.name = `rabbitmq:${this.#queue}`;
  }

  async open(window: number): Promise<void> {
    this.#window = window;
    await this.#subscribe();
  }

  async receive(
    max: number,
    deliver: (message: RabbitmqMessage) => void,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.#sub === undefined || this.#sub.closed) await this.#subscribe();
    while (this.#pushed.length === 0 && !signal.aborted) {
      if (this.#cancelled) {
        // The next receive subscribes anew (and fails while the queue is missing).
        this.#cancelled = false;
        await this.#unsubscribe();
        throw new Error(`sluice: RabbitMQ cancelled the consumer of "${this.#queue}"`);
      }
      if (this.#sub?.closed !== false) return; // the next receive opens a new channel
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.#wake = undefined;
    }
    if (signal.aborted) return;
    for (const raw of this.#pushed.splice(0, max)) deliver(this.#message(raw));
  }

  async ack(message: RabbitmqMessage): Promise<void> {
    this.#live(message).channel.ack(message.raw);
  }

  async requeue(message: RabbitmqMessage, delayMs: number, failed: boolean): Promise<void> {
    const sub = this.#live(message);
    const delayed = this.#delayPrefix !== undefined && delayMs > 0;
    if (!failed && !delayed) {
      sub.channel.nack(message.raw, false, true);
      return;
    }
    // RabbitMQ counts no deliveries across a republish: the copy carries the count.
    const counted = failed ? message.deliveries : message.deliveries - 1;
    const target = delayed ? await this.#delayQueue(sub, delayMs) : this.#queue;
    await publish(sub.confirm, '', target, message.raw, { [DELIVERIES_HEADER]: counted });
    sub.channel.ack(message.raw);
  }

  async deadLetter(message: RabbitmqMessage, info: DeadLetterInfo): Promise<void> {
    const sub = this.#live(message);
    const target = this.#deadLetter;
    if (target === 'reject') {
      sub.channel.nack(message.raw, false, false);
      return;
    }
    let exchange = '';
    let routingKey: string;
    if ('queue' in target) {
      routingKey = target.queue;
      if (!this.#declared.has(routingKey)) {
        await sub.confirm.assertQueue(routingKey, { durable: true });
        this.#declared.add(routingKey);
      }
    } else {
      exchange = target.exchange;
      routingKey = target.routingKey ?? this.#queue;
    }
    await publish(sub.confirm, exchange, routingKey, message.raw, {
      [DELIVERIES_HEADER]: info.deliveries,
      'x-sluice-queue': this.#queue,
      'x-sluice-error': info.reason,
    });
    sub.channel.ack(message.raw);
  }

  async window(size: number): Promise<void> {
    this.#window = size;
    // One change at a time; the loop catches up with the latest window.
    this.#applying ??= this.#applyWindow().finally(() => {
      this.#applying = undefined;
    });
    await this.#applying;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#applying?.catch(() => {});
    const sub = this.#sub;
    if (sub === undefined || sub.closed) return;
    if (sub.tag !== undefined) await sub.channel.cancel(sub.tag);
    this.#handBack();
  }

  async close(): Promise<void> {
    this.#stopped = true;
    await this.#unsubscribe();
  }

  async #unsubscribe(): Promise<void> {
    const sub = this.#sub;
    this.#sub = undefined;
    if (sub === undefined || sub.closed) return;
    sub.closed = true;
    // Closing returns whatever is still unacknowledged on the channel to the queue.
    await Promise.allSettled([sub.confirm.close(), sub.channel.close()]);
  }

  async #subscribe(): Promise<void> {
    const previous = this.#sub;
    if (previous !== undefined && !previous.closed) return;
    const channel = await this.#connection.createChannel();
    let confirm: AmqpConfirmChannel;
    try {
      confirm = await this.#connection.createConfirmChannel();
    } catch (error) {
      await channel.close().catch(() => {});
      throw error;
    }
    const sub: Subscription = { channel, confirm, closed: false, tag: undefined };
    const onClose = (): void => {
      if (sub.closed) return;
      sub.closed = true;
      // RabbitMQ requeues the channel's unacknowledged deliveries itself.
      if (this.#sub === sub) this.#pushed = [];
      this.#wake?.();
    };
    // An 'error' nobody listens to would crash the process; the 'close' that follows says enough.
    for (const ch of [channel, confirm]) {
      ch.on('error', () => {});
      ch.on('close', onClose);
    }
    this.#sub = sub;
    this.#pushed = [];
    const window = this.#window;
    await channel.prefetch(window, this.#scope === 'channel');
    this.#applied = window;
    sub.tag = await this.#consume(sub);
    // The window may have moved while subscribing.
    if (this.#window !== this.#applied) void this.window(this.#window).catch(() => {});
  }

  async #consume(sub: Subscription): Promise<string> {
    const reply = await sub.channel.consume(this.#queue, (raw) => this.#onDelivery(sub, raw), {
      noAck: false,
    });
    return reply.consumerTag;
  }

  #onDelivery(sub: Subscription, raw: AmqpMessage | null): void {
    if (raw === null) {
      // The server cancelled the consumer (the queue was deleted).
      if (this.#sub === sub) this.#cancelled = true;
      this.#wake?.();
      return;
    }
    this.#origin.set(raw, sub);
    if (this.#stopped || this.#sub !== sub) {
      sub.channel.nack(raw, false, true);
      return;
    }
    this.#pushed.push(raw);
    this.#wake?.();
  }

  async #applyWindow(): Promise<void> {
    for (;;) {
      const sub = this.#sub;
      const target = this.#window;
      if (sub === undefined || sub.closed || this.#stopped || target === this.#applied) return;
      if (this.#scope === 'channel') {
        await sub.channel.prefetch(target, true);
      } else {
        // RabbitMQ applies a per-consumer prefetch to consumers started after it: subscribe anew, then let
        // the old subscription go (its deliveries stay valid on the channel until settled).
        await sub.channel.prefetch(target, false);
        const old = sub.tag;
        sub.tag = await this.#consume(sub);
        if (old !== undefined) await sub.channel.cancel(old);
      }
      this.#applied = target;
    }
  }

  /** Requeues what RabbitMQ pushed and the engine never took. */
  #handBack(): void {
    const sub = this.#sub;
    const pushed = this.#pushed;
    this.#pushed = [];
    if (sub === undefined || sub.closed) return;
    for (const raw of pushed) sub.channel.nack(raw, false, true);
  }

  /** The live subscription `message` came on; throws if its channel closed (RabbitMQ requeued it then). */
  #live(message: RabbitmqMessage): Subscription {
    const sub = this.#origin.get(message.raw);
    if (sub === undefined || sub.closed) {
      throw new Error(
        `sluice: the channel that delivered message ${message.id} of "${this.#queue}" closed; RabbitMQ redelivers it`,
      );
    }
    return sub;
  }

  async #delayQueue(sub: Subscription, delayMs: number): Promise<string> {
    const bucket = BUCKETS.find((b) => b >= delayMs) ?? BUCKETS.at(-1)!;
    const name = `${this.#delayPrefix}${bucket}`;
    if (!this.#declared.has(name)) {
      await sub.confirm.assertQueue(name, {
        durable: true,
        arguments: {
          'x-message-ttl': bucket,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': this.#queue,
        },
      });
      this.#declared.add(name);
    }
    return name;
  }

  #message(raw: AmqpMessage): RabbitmqMessage {
    const headers = raw.properties.headers;
    // Deliveries before a republish (our header), plus this copy's: quorum queues count its returns.
    const before = Number(headers?.[DELIVERIES_HEADER] ?? 0) || 0;
    const returned = Number(headers?.['x-delivery-count'] ?? Number.NaN);
    const own = 1 + (Number.isFinite(returned) ? returned : raw.fields.redelivered ? 1 : 0);
    const messageId = raw.properties.messageId;
    return {
      id: typeof messageId === 'string' && messageId !== '' ? messageId : String(raw.fields.deliveryTag),
      body: raw.content,
      deliveries: before + own,
      priority: parsePriority(raw.properties.priority) ?? parsePriority(headers?.['priority']) ?? 0,
      raw,
    };
  }
}

/** Publishes a copy of `raw` with `extra` headers and waits for the broker's confirm. */
function publish(
  channel: AmqpConfirmChannel,
  exchange: string,
  routingKey: string,
  raw: AmqpMessage,
  extra: Readonly<Record<string, unknown>>,
): Promise<void> {
  const p = raw.properties;
  const options: AmqpPublishOptions = { headers: { ...p.headers, ...extra } };
  if (typeof p.priority === 'number') options.priority = p.priority;
  if (typeof p.deliveryMode === 'number') options.deliveryMode = p.deliveryMode;
  if (typeof p.contentType === 'string') options.contentType = p.contentType;
  if (typeof p.contentEncoding === 'string') options.contentEncoding = p.contentEncoding;
  if (typeof p.correlationId === 'string') options.correlationId = p.correlationId;
  if (typeof p.replyTo === 'string') options.replyTo = p.replyTo;
  if (typeof p.messageId === 'string') options.messageId = p.messageId;
  if (typeof p.timestamp === 'number') options.timestamp = p.timestamp;
  if (typeof p.type === 'string') options.type = p.type;
  if (typeof p.appId === 'string') options.appId = p.appId;
  return new Promise<void>((resolve, reject) => {
    channel.publish(exchange, routingKey, raw.content, options, (error) => {
      if (error)
        reject(error instanceof Error ? error : new Error(`sluice: publish not confirmed: ${String(error)}`));
      else resolve();
    });
  });
}

function deadLetterOption(value: unknown): RabbitmqDeadLetter {
  if (value === 'reject') return value;
  const v = value as { queue?: unknown; exchange?: unknown; routingKey?: unknown } | null;
  if (typeof v === 'object' && v !== null) {
    if (typeof v.queue === 'string' && v.queue !== '') return { queue: v.queue };
    if (typeof v.exchange === 'string' && v.exchange !== '') {
      if (v.routingKey !== undefined && typeof v.routingKey !== 'string') {
        throw new ConfigError('deadLetter.routingKey', v.routingKey, 'a string');
      }
      return v.routingKey === undefined
        ? { exchange: v.exchange }
        : { exchange: v.exchange, routingKey: v.routingKey };
    }
  }
  throw new ConfigError('deadLetter', value, '{ queue }, { exchange, routingKey? } or "reject"');
}

function nonEmpty(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(option, value, 'a non-empty string');
  return value;
}

/**
 * An adaptive consumer of a RabbitMQ queue (amqplib).
 *
 * - **Prefetch follows the limit.** The prefetch is the consumer's window (`limit + buffer`) and changes
 *   with it (see `prefetchScope`); a lower limit also hands back at once the buffered messages beyond the new
 *   window, since a prefetch only bounds new deliveries.
 * - **Acknowledged after the handler.** `basic.ack` once the handler resolves.
 * - **Retries** republish the message (with its delivery count in `x-sluice-deliveries`, confirmed by the
 *   broker) and then acknowledge the original, through a delay queue when `delayQueues` is on; after
 *   `maxDeliveries` it goes to `deadLetter`. **Shedding** requeues it (`basic.nack`), or delays it likewise.
 * - **Priorities** come from the AMQP `priority` property (or a `priority` header).
 *
 * ```ts
 * const connection = await amqplib.connect(url);
 * const consumer = rabbitmqConsumer({
 *   connection, queue: 'orders', delayQueues: true,
 *   handler: async (message) => billing.charge(JSON.parse(message.body.toString())),
 * });
 * await consumer.start();
 * ```
 */
export function rabbitmqConsumer(options: RabbitmqConsumerOptions): Consumer {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  return createConsumer(new RabbitmqSource(options), options);
}
