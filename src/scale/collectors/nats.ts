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
  nonEmptyString,
  objectOption,
  untilAborted,
} from './shared.ts';

/** The fields of a JetStream `ConsumerInfo` the collector reads. */
export interface CollectedConsumerInfo {
  readonly num_pending: number;
  readonly num_ack_pending: number;
  readonly num_redelivered: number;
  readonly num_waiting: number;
  readonly ack_floor: { readonly stream_seq: number };
  readonly config: { readonly filter_subject?: string; readonly filter_subjects?: readonly string[] };
  /** The server's time when it made the info (NATS 2.10 and later). */
  readonly ts?: string;
}

/** What the collector needs of a JetStream manager (`await jetstreamManager(nc)` from `@nats-io/jetstream`). */
export interface CollectedJetStreamManager {
  readonly consumers: {
    info(stream: string, consumer: string): Promise<CollectedConsumerInfo>;
  };
  readonly streams: {
    getMessage(
      stream: string,
      query: { seq: number; next_by_subj?: string },
    ): Promise<{ readonly time: Date } | null>;
  };
}

export interface NatsCollectorOptions {
  /** A JetStream manager. */
  readonly jsm: CollectedJetStreamManager;
  readonly stream: string;
  /** The durable consumer whose backlog to read. */
  readonly consumer: string;
  /**
   * Whether to read `oldestAgeMs`, which costs a second request (a message get) when the backlog is not
   * empty. Default `true`.
   */
  readonly oldestAge?: boolean;
  /**
   * The wall clock (ms since the epoch), to age a message when the server does not send its own time
   * (NATS before 2.10). Default `Date.now`.
   */
  readonly wallClock?: () => number;
  /** Names the collector in decision records. Default `"nats:<stream>/<consumer>"`. */
  readonly name?: string;
  /** Times the intervals between collects for `backlogGrowth`. Default the system clock. */
  readonly clock?: Clock;
}

/**
 * The backlog of a NATS JetStream consumer, from its consumer info.
 *
 * | reading         | unit       | meaning                                                                |
 * | --------------- | ---------- | ---------------------------------------------------------------------- |
 * | `pending`       | messages   | matching messages not yet delivered (`num_pending`)                    |
 * | `ackPending`    | messages   | delivered, not yet acknowledged (`num_ack_pending`)                    |
 * | `backlog`       | messages   | `pending + ackPending`: the work not done                              |
 * | `redelivered`   | messages   | messages redelivered and not yet acknowledged (`num_redelivered`)      |
 * | `waiting`       | requests   | pull requests waiting for messages (`num_waiting`): idle consumers     |
 * | `backlogGrowth` | per second | change of `backlog` since the previous collect (absent on the first)   |
 * | `oldestAgeMs`   | ms         | age of the oldest message not acknowledged, 0 when the backlog is empty |
 *
 * The oldest message is the first one after the consumer's ack floor that matches its filter subject; its
 * age is measured against the server's time in the info when the server sends it, else against
 * `wallClock`. It is left out for a consumer with several filter subjects.
 */
export function natsCollector(options: NatsCollectorOptions): AsyncCollector {
  objectOption('options', options);
  const { jsm } = options;
  if (typeof jsm?.consumers?.info !== 'function' || typeof jsm.streams?.getMessage !== 'function') {
    throw new ConfigError('jsm', jsm, 'a JetStream manager (from jetstreamManager(nc))');
  }
  const stream = nonEmptyString('stream', options.stream);
  const consumer = nonEmptyString('consumer', options.consumer);
  const oldestAge = options.oldestAge ?? true;
  if (typeof oldestAge !== 'boolean') throw new ConfigError('oldestAge', oldestAge, 'a boolean');
  const wallClock = options.wallClock ?? Date.now;
  if (typeof wallClock !== 'function') throw new ConfigError('wallClock', wallClock, 'a function');
  const name = collectorName(options.name, `nats:${stream}/${consumer}`);
  const clock = clockOption(options.clock);
  const growth = new Growth();

  const oldest = async (info: CollectedConsumerInfo, signal: AbortSignal): Promise<number | undefined> => {
    const filters = info.config.filter_subjects ?? [];
    if (filters.length > 1) return undefined;
    const subject = filters[0] ?? info.config.filter_subject ?? '>';
    const seq = info.ack_floor.stream_seq + 1;
    let message: { readonly time: Date } | null;
    try {
      // The first message at or after `seq` on the subject: messages in between may have been removed.
      message = await untilAborted(
        jsm.streams.getMessage(stream, { seq, next_by_subj: subject || '>' }),
        signal,
      );
    } catch (error) {
      return failure(name, `getMessage(${JSON.stringify(stream)}, seq ${seq})`, error, signal);
    }
    if (message === null) return undefined;
    const now = info.ts === undefined ? wallClock() : Date.parse(info.ts);
    const age = now - message.time.getTime();
    return Number.isFinite(age) ? Math.max(0, age) : undefined;
  };

  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      let info: CollectedConsumerInfo;
      try {
        info = await untilAborted(jsm.consumers.info(stream, consumer), signal);
      } catch (error) {
        return failure(name, `consumer info ${JSON.stringify(`${stream}/${consumer}`)}`, error, signal);
      }
      const now = clock.now();
      if (typeof info?.num_pending !== 'number' || typeof info.num_ack_pending !== 'number') {
        throw new CollectorError(
          name,
          `consumer info of ${stream}/${consumer} lacks num_pending or num_ack_pending`,
        );
      }
      const backlog = info.num_pending + info.num_ack_pending;
      const readings: Record<string, number> = {
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        backlog,
        redelivered: info.num_redelivered,
        waiting: info.num_waiting,
      };
      const change = growth.next(backlog, now);
      if (change !== undefined) readings['backlogGrowth'] = change;
      if (oldestAge) {
        const age = backlog === 0 ? 0 : await oldest(info, signal);
        if (age !== undefined) readings['oldestAgeMs'] = age;
      }
      return readings;
    },
  };
}
