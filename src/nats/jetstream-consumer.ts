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
import { integer, or } from '../core/validate.ts';

/** Message headers as `@nats-io/nats-core` has them (`MsgHdrs`). */
export interface JetStreamHeaders {
  get(key: string): string;
  set(key: string, value: string): void;
  keys(): string[];
  values(key: string): string[];
}

/** The parts of a `JsMsg` (from `@nats-io/jetstream`) the consumer uses. */
export interface JetStreamMsg {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: JetStreamHeaders | undefined;
  readonly info: { readonly stream: string; readonly streamSequence: number; readonly deliveryCount: number };
  ack(): void;
  ackAck(options?: Partial<{ timeout: number }>): Promise<boolean>;
  nak(millis?: number): void;
  working(): void;
  term(reason?: string): void;
}

/** What the consumer needs of a pull consumer (`await js.consumers.get(stream, name)`). */
export interface JetStreamPullConsumer {
  fetch(options: {
    max_messages: number;
    expires?: number;
  }): Promise<AsyncIterable<JetStreamMsg> & { close(): Promise<unknown> }>;
  info(cached?: boolean): Promise<{ readonly config: { readonly ack_wait?: number } }>;
}

/** What the consumer needs of a JetStream client (`jetstream(nc)` from `@nats-io/jetstream`). */
export interface JetStreamLike {
  readonly consumers: { get(stream: string, name: string): Promise<JetStreamPullConsumer> };
  publish(
    subject: string,
    payload?: Uint8Array,
    options?: Partial<{ msgID: string; headers: JetStreamHeaders }>,
  ): Promise<unknown>;
}

export type JetStreamMessage = ConsumerMessage<Uint8Array, JetStreamMsg>;

export interface JetStreamConsumerOptions extends ConsumerOptions<JetStreamMessage> {
  /** A JetStream client. */
  readonly js: JetStreamLike;
  /** The stream's name. */
  readonly stream: string;
  /**
   * A durable pull consumer of the stream, with explicit acks. Its `max_deliver` should be unlimited (-1, the
   * default) or above `maxDeliveries`: JetStream stops redelivering past it without telling the client.
   */
  readonly consumer: string;
  /** Longest one fetch waits for messages (ms), >= 1000. Default 5000. */
  readonly expires?: number;
  /**
   * Subject that dead letters are published to (JetStream publish, deduplicated by stream sequence), with the
   * message's headers and `Sluice-*` headers (`Sluice-Error` holds the failure); the message is then
   * terminated. Without it, a dead letter is only terminated: the stream keeps it under limits retention and
   * JetStream publishes a MSG_TERMINATED advisory. Default none.
   */
  readonly deadLetterSubject?: string;
  /**
   * Waits for the server to confirm each ack (`ackAck`), so that "acknowledged" means the server has it.
   * `false` sends acks without waiting (faster; a lost ack means a redelivery). Default true.
   */
  readonly confirmAcks?: boolean;
  /** Header holding a message's priority (a number or criticality name). Default `"priority"`. */
  readonly priorityHeader?: string;
}

const NANOS_PER_MS = 1_000_000;

class JetStreamSource implements ConsumerSource<JetStreamMessage> {
  readonly name: string;
  touchInterval: number | undefined = undefined;
  readonly #js: JetStreamLike;
  readonly #stream: string;
  readonly #consumerName: string;
  readonly #expires: number;
  readonly #deadLetterSubject: string | undefined;
  readonly #confirmAcks: boolean;
  readonly #priorityHeader: string;
  #consumer: JetStreamPullConsumer | undefined;

  constructor(options: JetStreamConsumerOptions) {
    const js = options.js;
    if (typeof js?.consumers?.get !== 'function' || typeof js.publish !== 'function') {
      throw new ConfigError('js', js, 'a JetStream client (from jetstream(nc))');
    }
    this.#js = js;
    this.#stream = nonEmpty('stream', options.stream);
    this.#consumerName = nonEmpty('consumer', options.consumer);
    this.#expires = integer('expires', or(options.expires, 5000), 1000);
    this.#deadLetterSubject =
      options.deadLetterSubject === undefined
        ? undefined
        : nonEmpty('deadLetterSubject', options.deadLetterSubject);
    this.#confirmAcks = options.confirmAcks ?? true;
    if (typeof this.#confirmAcks !== 'boolean') {
      throw new ConfigError('confirmAcks', options.confirmAcks, 'a boolean');
    }
    this.#priorityHeader = nonEmpty('priorityHeader', or(options.priorityHeader, 'priority'));
    this.name = `nats:${this.#stream}/${this.#consumerName}`;
  }

  async open(): Promise<void> {
    const consumer = await this.#js.consumers.get(this.#stream, this.#consumerName);
    const info = await consumer.info(true);
    const ackWait = info.config.ack_wait;
    // Heartbeats three times per ack wait keep a held message from being redelivered elsewhere.
    this.touchInterval = ackWait !== undefined && ackWait > 0 ? ackWait / NANOS_PER_MS / 3 : undefined;
    this.#consumer = consumer;
  }

  async receive(
    max: number,
    deliver: (message: JetStreamMessage) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined) throw new Error(`sluice: consumer "${this.name}" is not open`);
    if (signal.aborted) return;
    const batch = await consumer.fetch({ max_messages: max, expires: this.#expires });
    // Closing ends the iteration after the messages already received; any still on the wire are
    // redelivered by the server after its ack wait.
    const onAbort = (): void => void batch.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of batch) deliver(this.#message(msg));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async ack(message: JetStreamMessage): Promise<void> {
    if (!this.#confirmAcks) {
      message.raw.ack();
      return;
    }
    if (!(await message.raw.ackAck())) {
      throw new Error(`sluice: the server did not confirm the ack of ${this.#stream} #${message.id}`);
    }
  }

  async requeue(message: JetStreamMessage, delayMs: number): Promise<void> {
    message.raw.nak(delayMs > 0 ? Math.round(delayMs) : undefined);
  }

  async deadLetter(message: JetStreamMessage, info: DeadLetterInfo): Promise<void> {
    const msg = message.raw;
    if (this.#deadLetterSubject !== undefined) {
      const headers = await deadLetterHeaders(msg, {
        'Sluice-Stream': msg.info.stream,
        'Sluice-Sequence': String(msg.info.streamSequence),
        'Sluice-Subject': msg.subject,
        'Sluice-Deliveries': String(info.deliveries),
        'Sluice-Error': info.reason.replace(/[\r\n]+/g, ' '),
      });
      await this.#js.publish(this.#deadLetterSubject, msg.data, {
        msgID: `sluice-dead:${msg.info.stream}:${msg.info.streamSequence}`,
        ...(headers === undefined ? {} : { headers }),
      });
    }
    // Without a reason: servers before 2.10 ignore a TERM that carries one, and redeliver the message.
    msg.term();
  }

  async touch(messages: readonly JetStreamMessage[]): Promise<void> {
    for (const message of messages) message.raw.working();
  }

  async close(): Promise<void> {
    this.#consumer = undefined;
  }

  #message(msg: JetStreamMsg): JetStreamMessage {
    const header = msg.headers?.get(this.#priorityHeader);
    return {
      id: String(msg.info.streamSequence),
      body: msg.data,
      deliveries: msg.info.deliveryCount,
      priority: parsePriority(header) ?? 0,
      raw: msg,
    };
  }
}

/**
 * Headers for a dead letter: the message's own plus `extra`. New headers come from `@nats-io/transport-node`
 * (an optional peer) when it is installed; without it, the message's own headers go unchanged.
 */
async function deadLetterHeaders(
  msg: JetStreamMsg,
  extra: Readonly<Record<string, string>>,
): Promise<JetStreamHeaders | undefined> {
  let make: (() => JetStreamHeaders) | undefined;
  try {
    make = (await import('@nats-io/transport-node')).headers as () => JetStreamHeaders;
  } catch {
    return msg.headers;
  }
  const headers = make();
  const own = msg.headers;
  if (own !== undefined) for (const key of own.keys()) for (const v of own.values(key)) headers.set(key, v);
  for (const [key, value] of Object.entries(extra)) headers.set(key, value);
  return headers;
}

function nonEmpty(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(option, value, 'a non-empty string');
  return value;
}

/**
 * An adaptive consumer of a NATS JetStream pull consumer.
 *
 * - **Adaptive intake.** Each fetch asks for `max_messages` = the free places in the consumer's window
 *   (`limit + buffer`), so the messages it holds follow the adaptive limit.
 * - **Acknowledged after the handler**, and confirmed by the server (`ackAck`, see `confirmAcks`).
 * - **Shedding and retries** `nak(delay)`: the server redelivers after the delay. JetStream counts every
 *   delivery, shed ones included, so `maxDeliveries` counts them too.
 * - **Long handlers** send `working()` three times per ack wait, so the server does not redeliver a message
 *   still in work; a consumer that dies leaves its messages to be redelivered after the ack wait.
 * - **Dead letters** after `maxDeliveries`: published to `deadLetterSubject` (when given), then terminated.
 *
 * ```ts
 * const js = jetstream(nc);
 * const consumer = jetstreamConsumer({
 *   js, stream: 'ORDERS', consumer: 'billing',
 *   handler: async (message) => billing.charge(JSON.parse(new TextDecoder().decode(message.body))),
 * });
 * await consumer.start();
 * ```
 */
export function jetstreamConsumer(options: JetStreamConsumerOptions): Consumer {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  return createConsumer(new JetStreamSource(options), options);
}
