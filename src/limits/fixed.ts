import { integer } from '../core/validate.ts';
import { BaseLimit, type LimitSample } from './limit.ts';

/** A limit that never moves: `n` requests at a time, whatever the samples say. */
export class FixedLimit extends BaseLimit {
  readonly name = 'fixed';
  readonly fixed = true;

  constructor(limit: number) {
    const n = integer('fixed.limit', limit, 1);
    super('fixed', { initial: n, min: n, max: n }, { initial: n, min: n, max: n });
  }

  update(_sample: LimitSample): number {
    return this.current;
  }
}

/** A fixed limit of `n` (an integer >= 1); see {@link FixedLimit}. */
export function fixedLimit(n: number): FixedLimit {
  return new FixedLimit(n);
}
