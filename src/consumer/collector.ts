import type { Clock } from '../core/clock.ts';
import type { Readings } from '../scale/types.ts';
import type { ConsumerCollector, ConsumerSnapshot } from './types.ts';

/**
 * The consumer's readings for the autoscaler (see `Consumer.collector` for the table): its figures now, and
 * rates of its counters since the previous collect. Over a zero interval the rates are left out and their
 * counts carry over to the next collect.
 */
export function consumerCollector(
  name: string,
  clock: Clock,
  snapshot: () => ConsumerSnapshot,
): ConsumerCollector {
  let since = clock.now();
  let last = { acked: 0, retried: 0, shed: 0, deadLettered: 0, redelivered: 0 };
  return {
    name: `consumer:${name}`,
    collect(): Readings {
      const s = snapshot();
      const now = clock.now();
      const readings: Record<string, number> = {
        limit: s.limit,
        window: s.window,
        inflight: s.inflight,
        buffered: s.buffered,
        held: s.held,
        utilization: s.limit > 0 ? Math.min(1, s.inflight / s.limit) : 0,
      };
      const elapsed = now - since;
      if (elapsed > 0) {
        const rate = (n: number): number => (n * 1000) / elapsed;
        readings['ackRate'] = rate(s.acked - last.acked);
        readings['retryRate'] = rate(s.retried - last.retried);
        readings['shedRate'] = rate(s.shed - last.shed);
        readings['deadLetterRate'] = rate(s.deadLettered - last.deadLettered);
        readings['redeliveryRate'] = rate(s.redelivered - last.redelivered);
        last = s;
        since = now;
      }
      return readings;
    },
  };
}
