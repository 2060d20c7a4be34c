import { ConfigError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { fraction, or, positive } from '../core/validate.ts';
import { Ewma } from './ewma.ts';

/** The signals a pressure score is made of. */
export type PressureComponent = 'latency' | 'queue' | 'age' | 'drops' | 'errors';

const COMPONENTS = [
  'latency',
  'queue',
  'age',
  'drops',
  'errors',
] as const satisfies readonly PressureComponent[];

/**
 * What a service observes. Every field is optional: a missing, NaN or negative input contributes nothing,
 * so a caller passes what it has.
 */
export interface PressureInputs {
  /** Observed latency (ms): a window's p99, or an EWMA of round-trip times. */
  readonly latency?: number;
  /** The same statistic measured without load (ms). The latency component needs it (and `latency`). */
  readonly latencyBaseline?: number;
  /** Waiters in the queue. */
  readonly queueDepth?: number;
  /** Most waiters the queue holds. The queue component needs it (> 0) and `queueDepth`. */
  readonly queueCapacity?: number;
  /** Age of the oldest waiter (ms). */
  readonly queueAge?: number;
  /** Fraction of recent requests that ended in an overload signal (timeout, 429, 503, shed), in [0, 1]. */
  readonly dropRate?: number;
  /** Fraction of recent requests that failed for any other reason, in [0, 1]. */
  readonly errorRate?: number;
}

/** How much each component may contribute, each in [0, 1]: 0 ignores it, 1 lets it alone reach 1. */
export type PressureWeights = { readonly [K in PressureComponent]?: number };

export interface PressureOptions {
  /**
   * Weight per component, in [0, 1]. Default 1 for latency, queue, age and drops; 0.5 for errors, since
   * errors also come from bugs and bad input, not only from overload.
   */
  readonly weights?: PressureWeights;
  /** Ratio of latency to its baseline at which the latency component reads 0.5; > 1. Default 2. */
  readonly latencyTolerance?: number;
  /** Oldest-waiter age (ms) at which the age component reads 0.5. Default 100 (the queue's CoDel target). */
  readonly ageTarget?: number;
  /** Drop rate at which the drops component reads 0.5, in (0, 1]. Default 0.05. */
  readonly dropTolerance?: number;
  /** Error rate at which the errors component reads 0.5, in (0, 1]. Default 0.1. */
  readonly errorTolerance?: number;
}

export interface PressureResult {
  /** Overall pressure in [0, 1]: 0 is idle, 1 is overwhelmed. */
  readonly score: number;
  /** Each component's weighted contribution, in [0, 1]. */
  readonly components: Readonly<Record<PressureComponent, number>>;
  /** The component contributing most (the first in declaration order on a tie); `"none"` when all are 0. */
  readonly dominant: PressureComponent | 'none';
}

interface ResolvedPressure {
  readonly weights: Readonly<Record<PressureComponent, number>>;
  readonly latencyExcess: number;
  readonly ageTarget: number;
  readonly dropTolerance: number;
  readonly errorTolerance: number;
}

const DEFAULT_WEIGHTS: Readonly<Record<PressureComponent, number>> = {
  latency: 1,
  queue: 1,
  age: 1,
  drops: 1,
  errors: 0.5,
};

/**
 * The pressure on a service, explained. Each input goes through a smooth saturating curve to a severity in
 * [0, 1], is scaled by its weight, and the components combine as a soft OR: `1 - Π(1 - cᵢ)`.
 *
 * Curves (x is the input measured against its reference; 0.5 at the reference):
 * - latency: `hill((latency / baseline - 1) / (latencyTolerance - 1))`: 0 at the baseline, 0.5 at
 *   `latencyTolerance` times it (default 2x), 0.8 at 3x, 0.94 at 5x.
 * - queue: `smoothstep(depth / capacity)`: flat near empty (a few waiters are normal), 0.5 half full,
 *   1 full. Occupancy is already bounded, so it needs no saturation of its own.
 * - age: `hill(oldest age / ageTarget)`: 0.5 at the target, 0.8 at twice it.
 * - drops, errors: `hill(rate / tolerance)`: 0.5 at the tolerance (5 % drops, 10 % errors), 0.8 at twice it.
 *
 * `hill(x) = x² / (1 + x²)` is 0 with zero slope at 0 (small deviations are noise, not pressure), 0.5 at 1,
 * and approaches 1 without reaching it.
 *
 * Why a soft OR: overload shows in whichever signal the bottleneck moves first, and one severe signal must
 * be able to raise the alarm on its own. A weighted mean fails that (a full queue with normal latency would
 * read about 0.2 across five components); a plain max ignores that two moderate signals together are stronger
 * evidence than either. The soft OR is as high as its largest component, higher when others agree, stays in
 * [0, 1], and never decreases when any input worsens.
 */
export function pressureScore(inputs: PressureInputs, options?: PressureOptions): PressureResult {
  return score(inputs, resolvePressure(options));
}

function score(inputs: PressureInputs, r: ResolvedPressure): PressureResult {
  const w = r.weights;
  const latency = w.latency * hill(ratio(inputs.latency, inputs.latencyBaseline, 1) / r.latencyExcess);
  const queue = w.queue * smoothstep(ratio(inputs.queueDepth, inputs.queueCapacity, 0));
  const age = w.age * hill(ratio(inputs.queueAge, r.ageTarget, 0));
  const drops = w.drops * hill(ratio(inputs.dropRate, r.dropTolerance, 0));
  const errors = w.errors * hill(ratio(inputs.errorRate, r.errorTolerance, 0));
  const components = { latency, queue, age, drops, errors };
  let rest = 1;
  let dominant: PressureComponent | 'none' = 'none';
  let top = 0;
  for (const name of COMPONENTS) {
    const c = components[name];
    rest *= 1 - c;
    if (c > top) {
      top = c;
      dominant = name;
    }
  }
  return { score: 1 - rest, components, dominant };
}

/** `value / reference - offset`, floored at 0; 0 when either is missing or NaN, `value < 0` or `reference <= 0`. */
function ratio(value: number | undefined, reference: number | undefined, offset: number): number {
  if (value === undefined || reference === undefined || !(reference > 0) || !(value >= 0)) return 0;
  const x = value / reference - offset;
  // Also maps NaN (Infinity / Infinity) to 0.
  if (!(x > 0)) return 0;
  return x;
}

/** `x² / (1 + x²)`, written so that 0 and +Infinity (or an overflowing square) map exactly to 0 and 1. */
function hill(x: number): number {
  return 1 / (1 + 1 / (x * x));
}

function smoothstep(x: number): number {
  const t = Math.min(x, 1);
  return t * t * (3 - 2 * t);
}

function resolvePressure(options: PressureOptions | undefined): ResolvedPressure {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ConfigError('options', options, 'an object');
  }
  const given = options?.weights;
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw new ConfigError('weights', given, 'an object');
  }
  const weights = { ...DEFAULT_WEIGHTS };
  for (const name of COMPONENTS) {
    const value = given?.[name];
    if (value !== undefined) weights[name] = fraction(`weights.${name}`, value);
  }
  const tolerance = or(options?.latencyTolerance, 2);
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || !(tolerance > 1)) {
    throw new ConfigError('latencyTolerance', tolerance, 'a finite number > 1');
  }
  return {
    weights,
    latencyExcess: tolerance - 1,
    ageTarget: positive('ageTarget', or(options?.ageTarget, 100)),
    dropTolerance: openFraction('dropTolerance', or(options?.dropTolerance, 0.05)),
    errorTolerance: openFraction('errorTolerance', or(options?.errorTolerance, 0.1)),
  };
}

function openFraction(option: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1))
    throw new ConfigError(option, value, 'a number in (0, 1]');
  return value;
}

/** Pressure levels, mildest first. */
export type PressureLevel = 'normal' | 'elevated' | 'critical';

/** A level is entered when the smoothed score reaches `enter` and left when it falls below `exit` (< enter). */
export interface PressureThreshold {
  readonly enter: number;
  readonly exit: number;
}

export interface PressureMeterOptions extends PressureOptions {
  /** Name carried by events. Default `"default"`. */
  readonly name?: string;
  /** Half-life (ms) of the score's smoothing (a time-decayed EWMA). Default 1000. */
  readonly halfLife?: number;
  /** Thresholds of the elevated level, in [0, 1]. Default `{ enter: 0.5, exit: 0.35 }`. */
  readonly elevated?: PressureThreshold;
  /** Thresholds of the critical level, each >= the elevated one. Default `{ enter: 0.8, exit: 0.65 }`. */
  readonly critical?: PressureThreshold;
}

export interface PressureReading {
  /** Clock time of the update (ms). */
  readonly at: number;
  /** Smoothed score in [0, 1], the one the levels follow. */
  readonly score: number;
  /** Level after this update. */
  readonly level: PressureLevel;
  /** Level before this update. */
  readonly previous: PressureLevel;
  /** The instantaneous score and its explanation. */
  readonly raw: PressureResult;
}

export interface PressureEvents {
  /** The level changed. Channel `sluice:pressure:level`. */
  readonly level: PressureReading & { readonly meter: string };
}

/**
 * Pressure over time: smooths `pressureScore` with a time-decayed EWMA and maps it to a level with
 * hysteresis, so that a score hovering at a threshold does not flap between levels. Feed it on a timer
 * (every few hundred ms); `update` allocates its reading and is not meant for the request path.
 *
 * Transitions (s is the smoothed score): normal → elevated at `s >= elevated.enter`; any level → critical
 * at `s >= critical.enter`; critical stays while `s >= critical.exit`, then falls to elevated, or to
 * normal if `s < elevated.exit`; elevated → normal at `s < elevated.exit`. Levels may skip.
 */
export class PressureMeter {
  readonly name: string;
  readonly #resolved: ResolvedPressure;
  readonly #ewma: Ewma;
  readonly #elevated: PressureThreshold;
  readonly #critical: PressureThreshold;
  readonly #events = new Events<PressureEvents>('pressure');
  #level: PressureLevel = 'normal';
  #last: PressureReading | undefined = undefined;

  constructor(options?: PressureMeterOptions) {
    this.#resolved = resolvePressure(options);
    const name = or(options?.name, 'default');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    this.#ewma = new Ewma({ halfLife: positive('halfLife', or(options?.halfLife, 1000)) });
    this.#elevated = threshold('elevated', or(options?.elevated, { enter: 0.5, exit: 0.35 }));
    this.#critical = threshold('critical', or(options?.critical, { enter: 0.8, exit: 0.65 }));
    if (this.#elevated.enter > this.#critical.enter) {
      throw new ConfigError(
        'elevated.enter',
        this.#elevated.enter,
        `<= critical.enter (${this.#critical.enter})`,
      );
    }
    if (this.#elevated.exit > this.#critical.exit) {
      throw new ConfigError(
        'elevated.exit',
        this.#elevated.exit,
        `<= critical.exit (${this.#critical.exit})`,
      );
    }
  }

  /** Current level; `"normal"` before the first update. */
  get level(): PressureLevel {
    return this.#level;
  }

  /** Smoothed score in [0, 1]; 0 before the first update. */
  get score(): number {
    return this.#ewma.samples === 0 ? 0 : this.#ewma.value;
  }

  /** The latest reading, or `undefined` before the first update. */
  get last(): PressureReading | undefined {
    return this.#last;
  }

  /** Scores `inputs` observed at `now` (ms), smooths, applies the hysteresis; emits `level` on a change. */
  update(inputs: PressureInputs, now: number): PressureReading {
    const raw = score(inputs, this.#resolved);
    const s = this.#ewma.update(raw.score, now);
    const previous = this.#level;
    const level = this.#next(previous, s);
    this.#level = level;
    const reading: PressureReading = { at: now, score: s, level, previous, raw };
    this.#last = reading;
    if (level !== previous && this.#events.wants('level')) {
      this.#events.emit('level', { ...reading, meter: this.name });
    }
    return reading;
  }

  /** Typed events (also on diagnostics_channel `sluice:pressure:<event>`); returns an unsubscribe function. */
  on<K extends keyof PressureEvents & string>(
    name: K,
    listener: (event: PressureEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  /** Back to normal with no history. */
  reset(): void {
    this.#ewma.reset();
    this.#level = 'normal';
    this.#last = undefined;
  }

  #next(level: PressureLevel, s: number): PressureLevel {
    const elevated = this.#elevated;
    const critical = this.#critical;
    switch (level) {
      case 'normal':
        return s >= critical.enter ? 'critical' : s >= elevated.enter ? 'elevated' : 'normal';
      case 'elevated':
        return s >= critical.enter ? 'critical' : s < elevated.exit ? 'normal' : 'elevated';
      case 'critical':
        return s >= critical.exit ? 'critical' : s < elevated.exit ? 'normal' : 'elevated';
    }
  }
}

function threshold(option: string, value: unknown): PressureThreshold {
  if (typeof value !== 'object' || value === null)
    throw new ConfigError(option, value, 'an object { enter, exit }');
  const t = value as Partial<PressureThreshold>;
  const enter = fraction(`${option}.enter`, t.enter);
  const exit = fraction(`${option}.exit`, t.exit);
  if (!(exit < enter)) throw new ConfigError(`${option}.exit`, exit, `< ${option}.enter (${enter})`);
  return { enter, exit };
}
