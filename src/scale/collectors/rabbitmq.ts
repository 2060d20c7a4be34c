import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Readings } from '../types.ts';
import {
  type AsyncCollector,
  clockOption,
  collectorName,
  failure,
  Growth,
  methodOption,
  objectOption,
  untilAborted,
} from './shared.ts';

/** What the collector needs of an amqplib channel (`await connection.createChannel()`). */
export interface QueueCheckingChannel {
  checkQueue(queue: string): Promise<{ readonly messageCount: number; readonly consumerCount: number }>;
}

export interface RabbitmqCollectorOptions {
  /**
   * An amqplib channel (or confirm channel) for the collector's own use. RabbitMQ closes a channel on
   * which a queue check fails (a queue that does not exist), so do not share one that consumes or
   * publishes.
   */
  readonly channel: QueueCheckingChannel;
  /** The queue, or queues whose figures are added up (the queues of one worker fleet). */
  readonly queues: string | readonly string[];
  /** Names the collector in decision records. Default `"rabbitmq:<queues, comma-separated>"`. */
  readonly name?: string;
  /** Times the intervals between collects for `backlogGrowth`. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * The backlog of RabbitMQ queues, read with a passive queue declare (`checkQueue`) over AMQP: no
 * management plugin needed.
 *
 * | reading         | unit       | meaning                                                           |
 * | --------------- | ---------- | ----------------------------------------------------------------- |
 * | `backlog`       | messages   | messages ready for delivery, summed over the queues               |
 * | `consumers`     | consumers  | consumers attached, summed over the queues                        |
 * | `backlogGrowth` | per second | change of `backlog` since the previous collect (absent on the first) |
 *
 * `backlog` leaves out messages delivered and not yet acknowledged: it is the work no consumer holds.
 * AMQP does not tell how old the head message is; for that, use the management API through
 * `promqlCollector` on RabbitMQ's Prometheus metrics.
 */
export function rabbitmqCollector(options: RabbitmqCollectorOptions): AsyncCollector {
  objectOption('options', options);
  methodOption('channel', options.channel, 'checkQueue', 'an amqplib channel');
  const queues = typeof options.queues === 'string' ? [options.queues] : options.queues;
  if (
    !Array.isArray(queues) ||
    queues.length === 0 ||
    !queues.every((q) => typeof q === 'string' && q !== '')
  ) {
    throw new ConfigError('queues', options.queues, 'a queue name or a non-empty array of queue names');
  }
  const { channel } = options;
  const name = collectorName(options.name, `rabbitmq:${queues.join(',')}`);
  const clock = clockOption(options.clock);
  const growth = new Growth();

  const check = async (queue: string, signal: AbortSignal) => {
    try {
      return await untilAborted(channel.checkQueue(queue), signal);
    } catch (error) {
      return failure(name, `checkQueue(${JSON.stringify(queue)})`, error, signal);
    }
  };

  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      const replies = await Promise.all(queues.map((q) => check(q, signal)));
      const now = clock.now();
      let backlog = 0;
      let consumers = 0;
      for (const r of replies) {
        backlog += r.messageCount;
        consumers += r.consumerCount;
      }
      const readings: Record<string, number> = { backlog, consumers };
      const change = growth.next(backlog, now);
      if (change !== undefined) readings['backlogGrowth'] = change;
      return readings;
    },
  };
}
