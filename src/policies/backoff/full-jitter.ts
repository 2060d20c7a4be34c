import type { Backoff, GrowthOptions } from './backoff.ts';
import { ceiling, growth } from './exponential.ts';

/**
 * A uniform random delay in `[0, min(max, base * factor^(retry - 1)))`: the exponential ceiling with "full
 * jitter" (Brooker, AWS Architecture Blog, 2015). Spreading retries over the whole interval breaks up the
 * synchronised waves in which clients that failed together would retry together, at the cost of sometimes
 * retrying almost at once.
 */
export function fullJitterBackoff(options?: GrowthOptions): Backoff {
  const g = growth(options);
  return { name: 'full-jitter', delay: (retry, _previous, random) => random() * ceiling(g, retry) };
}
