import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import type { LimiterEvents, LimiterSnapshot } from '../../limiter/types.ts';
import { LatencyHistogram } from '../../signals/histogram.ts';
import type { Readings } from '../types.ts';
import { clockOption, collectorName, objectOption, type SyncCollector } from './shared.ts';

/** What the collector needs of a limiter (`createLimiter` returns one). */
export interface CollectedLimiter {
  readonly name: string;
  snapshot(): LimiterSnapshot;
  on<K extends 'reject' | 'release'>(name: K, listener: (event: LimiterEvents[K]) => void): () => void;
}

export interface LimiterCollectorOptions {
  /** Names the collector in decision records. Default `"limiter:<limiter name>"`. */
  readonly name?: string;
  /** Times the intervals between collects for the rates; give the limiter's clock. Default the system clock. */
  readonly clock?: Clock;
  /**
   * Whether to read latency percentiles and throughput. They come from the limiter's `release` events, so
   * subscribing costs one small event object per released permit on the request path. Default `true`.
   */
  readonly latency?: boolean;
}

/** The limiter's collector: synchronous, and it listens to the limiter until closed. */
export interface LimiterCollector extends SyncCollector {
  /** Removes the collector's listeners; later collects still read the snapshot. Idempotent. */
  close(): void;
}

/**
 * Readings of an in-process limiter: how much of its concurrency limit is in use and how much waits.
 *
 * | reading         | unit        | meaning                                                                 |
 * | --------------- | ----------- | ----------------------------------------------------------------------- |
 * | `limit`         | permits     | the adaptive limit now                                                  |
 * | `inflight`      | permits     | weighted permits held                                                   |
 * | `queued`        | waiters     | callers waiting in the queue                                            |
 * | `oldestWaitMs`  | ms          | how long the oldest waiter has waited, 0 if none                        |
 * | `utilization`   | fraction    | `inflight / limit`, in [0, 1]                                           |
 * | `demand`        | fraction    | `(inflight + queued) / limit`: above 1 shows how far demand exceeds the limit |
 * | `rejectRate`    | per second  | rejections since the previous collect (or since creation)              |
 * | `throughput`    | per second  | permits released since the previous collect                             |
 * | `latencyP50Ms`  | ms          | median latency of the permits released since the previous collect      |
 * | `latencyP99Ms`  | ms          | 99th percentile of the same                                             |
 *
 * `utilization` saturates at 1 once the limiter is full, so target tracking on it cannot tell how much
 * capacity is missing; `demand` can. Latencies leave out permits released with `ignore` (fast failures
 * unrelated to load, as the limit algorithm does) and are absent when nothing was released since the
 * previous collect; `throughput` and the latencies are absent with `latency: false`.
 *
 * The collector listens to the limiter's events from creation: call `close()` when done with it.
 */
export function limiterCollector(
  limiter: CollectedLimiter,
  options?: LimiterCollectorOptions,
): LimiterCollector {
  if (typeof limiter?.snapshot !== 'function' || typeof limiter.on !== 'function') {
    throw new ConfigError('limiter', limiter, 'a Limiter (from createLimiter)');
  }
  if (options !== undefined) objectOption('options', options);
  const name = collectorName(options?.name, `limiter:${limiter.name}`);
  const clock = clockOption(options?.clock);
  const latency = options?.latency ?? true;
  if (typeof latency !== 'boolean') throw new ConfigError('latency', latency, 'a boolean');

  let rejections = 0;
  let releases = 0;
  const histogram = latency ? new LatencyHistogram() : undefined;
  const unsubscribe = [limiter.on('reject', () => void rejections++)];
  if (histogram !== undefined) {
    unsubscribe.push(
      limiter.on('release', (event) => {
        releases++;
        if (event.outcome !== 'ignore') histogram.record(event.rtt);
      }),
    );
  }
  let since = clock.now();

  return {
    name,
    collect(): Readings {
      const s = limiter.snapshot();
      const now = clock.now();
      const elapsed = now - since;
      const readings: Record<string, number> = {
        limit: s.limit,
        inflight: s.inflight,
        queued: s.queued,
        oldestWaitMs: s.oldestWaitMs,
        utilization: s.limit > 0 ? Math.min(1, s.inflight / s.limit) : 0,
        demand: s.limit > 0 ? (s.inflight + s.queued) / s.limit : 0,
      };
      // Over a zero interval there is no rate to report; the counts carry over to the next collect.
      if (elapsed > 0) {
        readings['rejectRate'] = (rejections * 1000) / elapsed;
        rejections = 0;
        if (histogram !== undefined) {
          readings['throughput'] = (releases * 1000) / elapsed;
          releases = 0;
          if (histogram.count > 0) {
            readings['latencyP50Ms'] = histogram.percentile(0.5);
            readings['latencyP99Ms'] = histogram.percentile(0.99);
          }
          histogram.reset();
        }
        since = now;
      }
      return readings;
    },
    close(): void {
      for (const off of unsubscribe.splice(0)) off();
    },
  };
}
