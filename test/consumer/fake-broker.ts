import type { ConsumerMessage, ConsumerSource, DeadLetterInfo } from '../../src/consumer/types.ts';
import type { Clock, Timer } from '../../src/core/clock.ts';

/** The core's test double: an in-memory broker with at-least-once delivery, on the test's clock. */
export interface FakeMessage extends ConsumerMessage<string, undefined> {
  /** Which delivery of the message this is, counting every delivery (the `deliveries` field may not). */
  readonly delivery: number;
}

interface Stored {
  readonly id: string;
  readonly body: string;
  readonly priority: number;
  /** Deliveries as the consumer is told (a requeue that is not a failure takes one back). */
  deliveries: number;
  /** Every delivery. */
  delivered: number;
  state: 'ready' | 'delayed' | 'unacked' | 'acked' | 'dead';
  /** The delivery the consumer holds, while unacked. */
  current: FakeMessage | undefined;
  /** Clock time after which an unacked message counts as abandoned and is redelivered. */
  expiresAt: number;
  timer: Timer | undefined;
}

export type Operation = 'ack' | 'requeue' | 'deadLetter' | 'receive' | 'touch';

export interface FakeBrokerOptions {
  readonly clock: Clock;
  readonly name?: string;
  /**
   * An unacked message not touched for this long (ms) is redelivered, as a JetStream ack wait or a stream's
   * claim idle time would. Default Infinity (never: RabbitMQ while the channel lives).
   */
  readonly ackWait?: number;
  /** Heartbeat interval the source asks for. Default none. */
  readonly touchInterval?: number | undefined;
  /** How long each broker operation takes (ms on the clock). Default 0 (a microtask). */
  readonly latency?: number;
  /** Makes an operation fail (reject) when it returns true. */
  readonly fail?: (operation: Operation, id: string | undefined) => boolean;
}

export class FakeBroker implements ConsumerSource<FakeMessage> {
  readonly name: string;
  readonly touchInterval: number | undefined;
  readonly #clock: Clock;
  readonly #ackWait: number;
  readonly #latency: number;
  readonly #fail: ((operation: Operation, id: string | undefined) => boolean) | undefined;
  readonly #messages = new Map<string, Stored>();
  #ready: Stored[] = [];
  #waiter: (() => void) | undefined;
  #seq = 0;

  /** Every broker call, in order. */
  readonly log: { op: string; id?: string; at: number; delayMs?: number; failed?: boolean; max?: number }[] =
    [];
  /** Window sizes the consumer announced. */
  readonly windows: number[] = [];
  readonly deadLetters: { id: string; info: DeadLetterInfo }[] = [];
  /** Ack calls by message id. */
  readonly acks = new Map<string, number>();
  opened = 0;
  stopped = 0;
  closed = 0;
  /** Calls that found the message not unacked by that delivery (a stale settlement). */
  stale = 0;
  /** Receives that asked for more than the consumer may hold (set by the test's check). */
  check: ((max: number) => void) | undefined;

  constructor(options: FakeBrokerOptions) {
    this.#clock = options.clock;
    this.name = options.name ?? 'fake';
    this.#ackWait = options.ackWait ?? Number.POSITIVE_INFINITY;
    this.touchInterval = options.touchInterval;
    this.#latency = options.latency ?? 0;
    this.#fail = options.fail;
  }

  publish(body: string, priority = 0, id = `m${++this.#seq}`): string {
    const stored: Stored = {
      id,
      body,
      priority,
      deliveries: 0,
      delivered: 0,
      state: 'ready',
      current: undefined,
      expiresAt: Number.POSITIVE_INFINITY,
      timer: undefined,
    };
    this.#messages.set(id, stored);
    this.#makeReady(stored);
    return id;
  }

  /** Counts of messages by state. */
  counts(): Record<Stored['state'], number> {
    const counts = { ready: 0, delayed: 0, unacked: 0, acked: 0, dead: 0 };
    for (const m of this.#messages.values()) counts[m.state]++;
    return counts;
  }

  stateOf(id: string): Stored['state'] | undefined {
    return this.#messages.get(id)?.state;
  }

  deliveriesOf(id: string): number {
    return this.#messages.get(id)?.delivered ?? 0;
  }

  get size(): number {
    return this.#messages.size;
  }

  async open(window: number): Promise<void> {
    this.opened++;
    this.windows.push(window);
    await this.#op('open', undefined);
  }

  async receive(max: number, deliver: (message: FakeMessage) => void, signal: AbortSignal): Promise<void> {
    this.log.push({ op: 'receive', at: this.#clock.now(), max });
    this.check?.(max);
    if (this.#fail?.('receive', undefined)) {
      await this.#op('receive', undefined);
      throw new Error('receive failed');
    }
    while (this.#ready.length === 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.#waiter = undefined;
    }
    if (signal.aborted) return;
    await this.#op('receive', undefined);
    const batch = this.#ready.splice(0, max);
    for (const stored of batch) {
      stored.deliveries++;
      stored.delivered++;
      stored.state = 'unacked';
      stored.expiresAt = this.#clock.now() + this.#ackWait;
      this.#armExpiry(stored);
      const message: FakeMessage = {
        id: stored.id,
        body: stored.body,
        priority: stored.priority,
        deliveries: stored.deliveries,
        delivery: stored.delivered,
        raw: undefined,
      };
      stored.current = message;
      deliver(message);
    }
  }

  async ack(message: FakeMessage): Promise<void> {
    this.log.push({ op: 'ack', id: message.id, at: this.#clock.now() });
    await this.#op('ack', message.id);
    const stored = this.#holding(message);
    if (stored === undefined) return;
    this.acks.set(message.id, (this.acks.get(message.id) ?? 0) + 1);
    this.#settle(stored, 'acked');
  }

  async requeue(message: FakeMessage, delayMs: number, failed: boolean): Promise<void> {
    this.log.push({ op: 'requeue', id: message.id, at: this.#clock.now(), delayMs, failed });
    await this.#op('requeue', message.id);
    const stored = this.#holding(message);
    if (stored === undefined) return;
    if (!failed) stored.deliveries--;
    this.#settle(stored, 'delayed');
    if (delayMs <= 0) this.#makeReady(stored);
    else stored.timer = this.#clock.setTimer(() => this.#makeReady(stored), delayMs);
  }

  async deadLetter(message: FakeMessage, info: DeadLetterInfo): Promise<void> {
    this.log.push({ op: 'deadLetter', id: message.id, at: this.#clock.now() });
    await this.#op('deadLetter', message.id);
    const stored = this.#holding(message);
    if (stored === undefined) return;
    this.deadLetters.push({ id: message.id, info });
    this.#settle(stored, 'dead');
  }

  async touch(messages: readonly FakeMessage[]): Promise<void> {
    this.log.push({ op: 'touch', at: this.#clock.now() });
    await this.#op('touch', undefined);
    for (const message of messages) {
      const stored = this.#holding(message);
      if (stored === undefined) continue;
      stored.expiresAt = this.#clock.now() + this.#ackWait;
      this.#armExpiry(stored);
    }
  }

  async window(size: number): Promise<void> {
    this.windows.push(size);
  }

  async stop(): Promise<void> {
    this.stopped++;
  }

  async close(): Promise<void> {
    this.closed++;
  }

  /** The stored message if `message` is the delivery it is unacked under; counts a stale call otherwise. */
  #holding(message: FakeMessage): Stored | undefined {
    const stored = this.#messages.get(message.id);
    if (stored === undefined || stored.state !== 'unacked' || stored.current !== message) {
      this.stale++;
      return undefined;
    }
    return stored;
  }

  #settle(stored: Stored, state: Stored['state']): void {
    stored.state = state;
    stored.current = undefined;
    stored.timer?.cancel();
    stored.timer = undefined;
  }

  #makeReady(stored: Stored): void {
    stored.timer?.cancel();
    stored.timer = undefined;
    stored.state = 'ready';
    this.#ready.push(stored);
    this.#waiter?.();
  }

  #armExpiry(stored: Stored): void {
    stored.timer?.cancel();
    stored.timer = undefined;
    if (!Number.isFinite(this.#ackWait)) return;
    stored.timer = this.#clock.setTimer(() => {
      // Abandoned: the broker takes it back and delivers it again.
      stored.current = undefined;
      this.#makeReady(stored);
    }, stored.expiresAt - this.#clock.now());
  }

  async #op(operation: string, id: string | undefined): Promise<void> {
    if (this.#latency > 0) {
      await new Promise<void>((resolve) => this.#clock.setTimer(resolve, this.#latency));
    } else {
      await Promise.resolve();
    }
    if (operation !== 'receive' && operation !== 'open' && this.#fail?.(operation as Operation, id)) {
      throw new Error(`${operation} failed`);
    }
  }
}
