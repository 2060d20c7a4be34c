import { ConfigError } from '../../core/errors.ts';
import type { Readings } from '../types.ts';
import { CollectorError } from './errors.ts';
import { type AsyncCollector, failure, untilAborted } from './shared.ts';

/**
 * A collector from a function: whatever the application can measure (a pool's busy workers, a cache's
 * miss rate, a custom queue's length). `read` may be async and receives the collect's abort signal.
 *
 * ```ts
 * const jobs = gaugeCollector('jobs', () => ({ backlog: queue.length, busy: workers.busy }));
 * ```
 *
 * Every reading must be a number; a non-finite one (NaN, Infinity) is left out, since it would poison the
 * averages downstream. A reading of another type fails the collect, naming it.
 */
export function gaugeCollector(
  name: string,
  read: (signal: AbortSignal) => Readings | Promise<Readings>,
): AsyncCollector {
  if (typeof name !== 'string' || name.length === 0)
    throw new ConfigError('name', name, 'a non-empty string');
  if (typeof read !== 'function') throw new ConfigError('read', read, 'a function returning readings');
  const check = (value: unknown): Readings => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CollectorError(name, `read() must return an object of named numbers, got ${typeof value}`);
    }
    const readings: Record<string, number> = {};
    for (const [key, v] of Object.entries(value)) {
      if (typeof v !== 'number') {
        throw new CollectorError(name, `reading "${key}" must be a number, got ${typeof v}`);
      }
      if (Number.isFinite(v)) readings[key] = v;
    }
    return readings;
  };
  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      let value: Readings;
      try {
        value = await untilAborted(Promise.resolve(read(signal)), signal);
      } catch (error) {
        return failure(name, 'read()', error, signal);
      }
      return check(value);
    },
  };
}
