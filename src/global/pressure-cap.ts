import { ConfigError } from '../core/errors.ts';
import { fraction, func, integer, or } from '../core/validate.ts';
import { CappedLimit } from '../limits/capped.ts';
import type { Limit } from '../limits/limit.ts';
import type { PressureSignal } from './pressure-bus.ts';

export interface PressureCapOptions {
  /** The downstream's pressure: a subscriber from `subscribePressure`, or any `PressureSignal`. */
  readonly signal: PressureSignal;
  /**
   * Pressure below which the limit is left alone, in [0, 1). Default 0.35: where a `PressureMeter` leaves
   * its elevated level, so a downstream that reads normal costs its callers nothing.
   */
  readonly threshold?: number;
  /** Fraction of the limit removed at pressure 1, in (0, 1]. Default 0.9. */
  readonly maxCut?: number;
  /** Lowest limit the cap imposes, an integer >= 1. Default 1. */
  readonly min?: number;
  /**
   * The fraction of the limit to remove at a given pressure, in [0, 1] (replaces `threshold` and `maxCut`).
   * Default: 0 up to `threshold`, then linear up to `maxCut` at pressure 1.
   */
  readonly cut?: (pressure: number) => number;
}

/** A limit lowered by a downstream's published pressure; see `pressureCap`. */
export interface PressureCap extends Limit {
  /** The downstream's pressure now, `undefined` when unknown. */
  readonly pressure: number | undefined;
  /** The ceiling in force; `Infinity` when the pressure is unknown or below the threshold. */
  readonly cap: number;
  /** Stops following the signal and the inner limit (the cap is lifted). */
  stop(): void;
}

/**
 * Caps a limit by a downstream's pressure: `limit × (1 − cut(pressure))`, rounded down, never below `min`.
 *
 * Why: a caller's latency-based limit learns that a downstream is saturated only once its latency has
 * risen, which is after the downstream's queue has filled. The downstream's own pressure (its queue depth,
 * its queue age, its drops) moves first; published on the bus, it lets every caller give way early, in
 * proportion, and take back its limit as the pressure falls. An unknown pressure (no fresh message: the
 * downstream stopped publishing, or the bus is down) lifts the cap, so a broken bus never throttles.
 *
 * Built like the server's process-pressure ceiling: the inner algorithm keeps learning underneath,
 * untouched, and the wrapper publishes `min(inner, cap)` whenever either moves. Use it wherever a `Limit`
 * goes: `createLimiter({ limit })`, or `globalLimiter({ limit })` to lower a limit shared by many instances.
 */
export function pressureCap(inner: Limit, options: PressureCapOptions): PressureCap {
  return new Cap(inner, options);
}

class Cap extends CappedLimit implements PressureCap {
  readonly name: string;
  /** Like the inner limit: the cap moves on the signal, never on samples, so timing is needed only if it learns. */
  readonly fixed: boolean;
  readonly #signal: PressureSignal;
  readonly #cut: (pressure: number) => number;
  readonly #min: number;
  readonly #unsubscribe: (() => void)[];

  constructor(inner: Limit, o: PressureCapOptions) {
    if (typeof inner !== 'object' || inner === null || typeof inner.onChange !== 'function') {
      throw new ConfigError('limit', inner, 'a Limit');
    }
    if (typeof o !== 'object' || o === null) throw new ConfigError('options', o, 'an options object');
    const signal = o.signal;
    if (typeof signal !== 'object' || signal === null || typeof signal.onChange !== 'function') {
      throw new ConfigError('signal', signal, 'a PressureSignal (a subscriber from subscribePressure)');
    }
    super(inner);
    this.#signal = signal;
    this.name = `pressure-cap(${inner.name})`;
    this.fixed = inner.fixed === true;
    if (o.cut !== undefined) {
      if (o.threshold !== undefined || o.maxCut !== undefined) {
        throw new ConfigError('cut', 'a function', 'absent when threshold or maxCut is given');
      }
      const cut = func<(pressure: number) => number>('cut', o.cut);
      this.#cut = (p) => {
        const c = cut(p);
        return c > 0 ? Math.min(1, c) : 0;
      };
    } else {
      const threshold = fraction('threshold', or(o.threshold, 0.35));
      if (threshold === 1) throw new ConfigError('threshold', threshold, 'a number in [0, 1)');
      const maxCut = fraction('maxCut', or(o.maxCut, 0.9));
      if (maxCut === 0) throw new ConfigError('maxCut', maxCut, 'a number in (0, 1]');
      this.#cut = (p) => maxCut * Math.min(1, Math.max(0, (p - threshold) / (1 - threshold)));
    }
    this.#min = integer('min', or(o.min, 1), 1);
    this.#unsubscribe = [
      inner.onChange(() => this.#follow('inner')),
      signal.onChange(() => this.#follow('downstream-pressure')),
    ];
    this.#follow('downstream-pressure');
  }

  get pressure(): number | undefined {
    return this.#signal.pressure;
  }

  stop(): void {
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe.length = 0;
    this.setCap(Number.POSITIVE_INFINITY);
    this.#publish('inner', undefined);
  }

  #follow(rule: string): void {
    const p = this.#signal.pressure;
    const cut = p === undefined ? 0 : this.#cut(p);
    this.setCap(
      cut > 0
        ? // The epsilon keeps float error (0.55 × 100 = 54.999…) from costing a whole permit.
          Math.max(this.#min, Math.floor(this.inner.current * (1 - cut) + 1e-9))
        : Number.POSITIVE_INFINITY,
    );
    this.#publish(rule, p);
  }

  #publish(rule: string, pressure: number | undefined): void {
    this.publish(rule, { cap: this.cap, pressure: pressure ?? Number.NaN });
  }
}
