import { finite, nonNegative, or, ordered } from '../../core/validate.ts';
import type { Backoff } from './backoff.ts';

export interface DecorrelatedJitterOptions {
  /** Smallest delay, and the scale of the first (ms). Default 100. */
  readonly base?: number;
  /** Largest delay (ms). Default 10000. */
  readonly max?: number;
}

/**
 * Each delay is uniform in `[base, 3 * previous)`, capped at `max` ("decorrelated jitter", after the same
 * AWS article): it grows about threefold per retry on average, yet two clients' sequences drift apart
 * after a single draw, and no delay falls below `base`. The first retry treats `previous` as `base`.
 */
export function decorrelatedJitterBackoff(options?: DecorrelatedJitterOptions): Backoff {
  const base = finite('backoff.base', or(options?.base, 100), 0);
  const max = nonNegative('backoff.max', or(options?.max, 10_000));
  ordered('backoff.base', base, 'backoff.max', max);
  return {
    name: 'decorrelated-jitter',
    delay(_retry, previous, random) {
      const upper = Math.max(base, previous) * 3;
      return Math.min(max, base + random() * (upper - base));
    },
  };
}
