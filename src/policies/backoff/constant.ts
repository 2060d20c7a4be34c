import { finite, or } from '../../core/validate.ts';
import type { Backoff } from './backoff.ts';

export interface ConstantBackoffOptions {
  /** Delay before every retry (ms). Default 1000. */
  readonly delay?: number;
}

/** The same delay before every retry: fits a dependency that recovers on a known schedule. */
export function constantBackoff(options?: ConstantBackoffOptions): Backoff {
  const ms = finite('backoff.delay', or(options?.delay, 1000), 0);
  return { name: 'constant', delay: () => ms };
}
