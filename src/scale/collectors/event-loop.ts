import { ConfigError } from '../../core/errors.ts';
import type { EventLoopReading } from '../../signals/event-loop.ts';
import type { Readings } from '../types.ts';
import { CollectorError } from './errors.ts';
import { collectorName, objectOption, type SyncCollector } from './shared.ts';

/** What the collector needs of an `EventLoopMonitor`. */
export interface CollectedEventLoop {
  readonly running: boolean;
  readonly reading: EventLoopReading;
}

export interface EventLoopCollectorOptions {
  /** Names the collector in decision records. Default `"event-loop"`. */
  readonly name?: string;
}

/**
 * Readings of this process's event loop from a running `EventLoopMonitor` (started by the caller, who
 * chooses its interval): its latest reading, covering the monitor's last interval.
 *
 * | reading       | unit     | meaning                                                     |
 * | ------------- | -------- | ----------------------------------------------------------- |
 * | `delayP99Ms`  | ms       | 99th percentile of the event-loop delay                     |
 * | `utilization` | fraction | share of the interval the loop was busy, in [0, 1]          |
 *
 * A figure the monitor does not have yet (NaN before its first reading, or a delay when the loop was
 * blocked for a whole interval) is left out rather than reported as NaN. A stopped monitor's reading never
 * changes, so collecting from one fails instead of repeating a stale value.
 */
export function eventLoopCollector(
  monitor: CollectedEventLoop,
  options?: EventLoopCollectorOptions,
): SyncCollector {
  if (typeof monitor !== 'object' || monitor === null || !('reading' in monitor) || !('running' in monitor)) {
    throw new ConfigError('monitor', monitor, 'an EventLoopMonitor');
  }
  if (options !== undefined) objectOption('options', options);
  const name = collectorName(options?.name, 'event-loop');
  return {
    name,
    collect(): Readings {
      if (!monitor.running) {
        throw new CollectorError(name, 'the event-loop monitor is not running (call monitor.start())');
      }
      const { delayP99Ms, utilization } = monitor.reading;
      const readings: Record<string, number> = {};
      if (Number.isFinite(delayP99Ms)) readings['delayP99Ms'] = delayP99Ms;
      if (Number.isFinite(utilization)) readings['utilization'] = utilization;
      return readings;
    },
  };
}
