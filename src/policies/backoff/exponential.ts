import { finite, nonNegative, or, ordered } from '../../core/validate.ts';
import type { Backoff, GrowthOptions } from './backoff.ts';

/** Validated growth parameters, shared by the exponential strategies. */
export interface Growth {
  readonly base: number;
  readonly max: number;
  readonly factor: number;
}

export function growth(options: GrowthOptions | undefined): Growth {
  const base = finite('backoff.base', or(options?.base, 100), 0);
  const max = nonNegative('backoff.max', or(options?.max, 10_000));
  const factor = finite('backoff.factor', or(options?.factor, 2), 1);
  ordered('backoff.base', base, 'backoff.max', max);
  return { base, max, factor };
}

/** `min(max, base * factor^(retry - 1))`; `factor ** n` overflows to Infinity, which the cap absorbs. */
export function ceiling(g: Growth, retry: number): number {
  return Math.min(g.max, g.base * g.factor ** (retry - 1));
}

/**
 * `base`, `base * factor`, `base * factor²`, ... capped at `max`, without jitter. Deterministic delays let
 * clients that failed together retry together, so prefer a jittered strategy when many clients share a
 * downstream; this one suits a single caller, or tests.
 */
export function exponentialBackoff(options?: GrowthOptions): Backoff {
  const g = growth(options);
  return { name: 'exponential', delay: (retry) => ceiling(g, retry) };
}
