import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError, RejectedError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { func, or, positive } from '../core/validate.ts';
import { PriorityLevels } from '../limiter/priority-levels.ts';
import type { Priority } from '../limiter/types.ts';
import {
  type PressureComponent,
  type PressureEvents,
  type PressureInputs,
  type PressureLevel,
  PressureMeter,
  type PressureMeterOptions,
} from '../signals/pressure.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';

/**
 * What the degrader polls: the pressure inputs it can observe (latency against its baseline, queue depth,
 * drop rate, ...), a ready-made score in [0, 1], or `undefined` when it has nothing new to report.
 */
export type PressureSource = () => PressureInputs | number | undefined;

/**
 * The options of the degrader's own `PressureMeter` (thresholds, smoothing, weights) apply unless `meter` is
 * given; `name` (default `"degrader"`) names both.
 */
export interface DegraderOptions extends PressureMeterOptions {
  /** Time source for polling and for the meter's smoothing. Default the system monotonic clock. */
  readonly clock?: Clock;
  /**
   * A meter to follow instead of building one, to share a single pressure reading between components. The
   * degrader's level is then the meter's, however it is fed. Not allowed together with meter options.
   * Default: a meter built from these options.
   */
  readonly meter?: PressureMeter;
  /** Polled every `interval` ms on an unref'd timer from construction (see `start`, `stop`). Default: none. */
  readonly source?: PressureSource;
  /** Polling period (ms). Also the retry-after hint of the policy form's rejections. Default 500. */
  readonly interval?: number;
}

/** What a variant receives: the call's context and the level it runs at. */
export interface DegradeContext extends CallContext {
  /** The current level (a variant may stand in for a harsher level than its own). */
  readonly level: PressureLevel;
}

export type DegradeVariant<T> = (context: DegradeContext) => T;

/**
 * One implementation per level. A missing level falls back to the nearest milder one that is given:
 * critical to elevated to normal.
 */
export interface DegradeVariants<T> {
  /** The full behaviour. */
  readonly normal: DegradeVariant<T>;
  /** Under elevated pressure: a cheaper variant, or the full one without its optional work. */
  readonly elevated?: DegradeVariant<T>;
  /** Under critical pressure: serve stale or cached data, a default, or skip the work. */
  readonly critical?: DegradeVariant<T>;
}

export interface DegradePolicyOptions {
  /** Priority levels, as the limiter's `priorities`. Default the criticality names. */
  readonly priorities?: number | readonly string[];
  /**
   * Least important priority still admitted at the elevated level. Default the second least important
   * (`"low"`: sheddable calls are shed).
   */
  readonly elevated?: Priority;
  /** Least important priority still admitted at the critical level. Default the most important (`"critical"`). */
  readonly critical?: Priority;
}

export interface DegraderEvents {
  /** The level changed. Channel `sluice:degrader:level`. */
  readonly level: {
    readonly degrader: string;
    readonly at: number;
    readonly level: PressureLevel;
    readonly previous: PressureLevel;
    /** Smoothed score the levels follow, in [0, 1]. */
    readonly score: number;
    /** Instantaneous score of the update that moved the level. */
    readonly raw: number;
    /** Component contributing most, or `"score"` when the update was a ready-made score. */
    readonly dominant: PressureComponent | 'none' | 'score';
  };
  /** The source threw; the level holds. Channel `sluice:degrader:error`. */
  readonly error: { readonly degrader: string; readonly at: number; readonly error: unknown };
}

export interface Degrader extends Disposable {
  readonly name: string;
  /** Current level; `"normal"` until pressure says otherwise. */
  readonly level: PressureLevel;
  /** Smoothed pressure score in [0, 1]. */
  readonly score: number;
  /** The meter whose level the degrader follows. */
  readonly meter: PressureMeter;
  /** True while the source is being polled. */
  readonly polling: boolean;
  /**
   * Feeds the meter: pressure inputs, or a ready-made score in [0, 1] (clamped; NaN throws a RangeError).
   * Returns the level after the update.
   */
  update(pressure: PressureInputs | number): PressureLevel;
  /** Runs the variant for the current level (see `DegradeVariants` for the fallback) and returns its result. */
  run<T>(variants: DegradeVariants<T>, options?: CallOptions): T;
  /**
   * A `Policy` that sheds calls by priority: at the elevated and critical levels, calls less important than
   * the level admits are rejected before they start with a `RejectedError` (reason `"shed"`).
   */
  policy(options?: DegradePolicyOptions): Policy;
  /** Polls the source every `interval` ms on an unref'd timer. Idempotent; throws without a source. */
  start(): void;
  /** Stops polling; no timer remains. Idempotent. */
  stop(): void;
  /** Stops polling and detaches from the meter (no more `level` events). */
  close(): void;
  /** Typed events (also on diagnostics_channel `sluice:degrader:<event>`); returns an unsubscribe function. */
  on<K extends keyof DegraderEvents & string>(
    name: K,
    listener: (event: DegraderEvents[K]) => void,
  ): () => void;
}

const METER_OPTIONS = [
  'halfLife',
  'elevated',
  'critical',
  'weights',
  'latencyTolerance',
  'ageTarget',
  'dropTolerance',
  'errorTolerance',
] as const satisfies readonly (keyof PressureMeterOptions)[];

/**
 * Graceful degradation: under pressure, run a cheaper variant of the work instead of failing it.
 *
 * The level (normal, elevated, critical) is a `PressureMeter`'s: a smoothed pressure score with hysteresis,
 * so a score hovering at a threshold does not flap between variants. Feed it with `update`, or give a
 * `source` to poll; `run` then picks the variant for the current level.
 *
 * ```ts
 * const degrader = createDegrader({ source: () => ({ queueDepth: limiter.queued, queueCapacity: 1000 }) });
 * const page = await degrader.run({
 *   normal: () => renderWithRecommendations(user),
 *   elevated: () => renderPlain(user),
 *   critical: () => cache.get(user.id) ?? renderPlain(user),
 * });
 * ```
 */
export function createDegrader(options?: DegraderOptions): Degrader {
  return new PressureDegrader(options);
}

class PressureDegrader implements Degrader {
  readonly name: string;
  readonly meter: PressureMeter;
  readonly #clock: Clock;
  readonly #source: PressureSource | undefined;
  readonly #interval: number;
  readonly #events = new Events<DegraderEvents>('degrader');
  #detach: (() => void) | undefined;
  #timer: Timer | undefined = undefined;
  #polling = false;
  /** True while `update` feeds the meter a ready-made score, so the level event names the right cause. */
  #fromScore = false;

  constructor(options: DegraderOptions | undefined) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ConfigError('options', options, 'an object');
    }
    const name = or(options?.name, 'degrader');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    const clock = or(options?.clock, systemClock);
    if (typeof clock !== 'object' || clock === null || typeof clock.setTimer !== 'function') {
      throw new ConfigError('clock', clock, 'a Clock');
    }
    this.#clock = clock;
    const meter = options?.meter;
    if (meter !== undefined) {
      if (
        typeof meter !== 'object' ||
        meter === null ||
        typeof meter.update !== 'function' ||
        typeof meter.on !== 'function'
      ) {
        throw new ConfigError('meter', meter, 'a PressureMeter');
      }
      const clash = METER_OPTIONS.find((key) => options?.[key] !== undefined);
      if (clash !== undefined) {
        throw new ConfigError(clash, options?.[clash], 'absent when a meter is given (configure the meter)');
      }
      this.meter = meter;
    } else {
      this.meter = new PressureMeter({ ...options, name });
    }
    this.#source = options?.source === undefined ? undefined : func<PressureSource>('source', options.source);
    this.#interval = positive('interval', or(options?.interval, 500));
    this.#detach = this.meter.on('level', (reading) => this.#onLevel(reading));
    if (this.#source !== undefined) this.start();
  }

  get level(): PressureLevel {
    return this.meter.level;
  }

  get score(): number {
    return this.meter.score;
  }

  get polling(): boolean {
    return this.#polling;
  }

  update(pressure: PressureInputs | number): PressureLevel {
    let inputs: PressureInputs;
    if (typeof pressure === 'number') {
      if (Number.isNaN(pressure))
        throw new RangeError('sluice: a pressure score must be a number in [0, 1], got NaN');
      inputs = scoreInputs(Math.min(Math.max(pressure, 0), 1));
      this.#fromScore = true;
    } else if (typeof pressure === 'object' && pressure !== null) {
      inputs = pressure;
    } else {
      throw new TypeError(
        `sluice: pressure must be PressureInputs or a score in [0, 1], got ${typeof pressure}`,
      );
    }
    try {
      return this.meter.update(inputs, this.#clock.now()).level;
    } finally {
      this.#fromScore = false;
    }
  }

  run<T>(variants: DegradeVariants<T>, options?: CallOptions): T {
    const level = this.meter.level;
    const variant = pick(variants, level);
    return variant({
      signal: options?.signal,
      deadline: options?.deadline,
      attempt: options?.attempt ?? 0,
      priority: options?.priority,
      level,
    });
  }

  policy(options?: DegradePolicyOptions): Policy {
    return new SheddingPolicy(this, this.#interval, options);
  }

  start(): void {
    if (this.#source === undefined)
      throw new ConfigError('source', undefined, 'a function (start() polls it)');
    if (this.#polling) return;
    this.#polling = true;
    this.#schedule();
  }

  stop(): void {
    this.#polling = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    this.#detach?.();
    this.#detach = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  on<K extends keyof DegraderEvents & string>(
    name: K,
    listener: (event: DegraderEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimer(() => this.#tick(), this.#interval, { ref: false });
  }

  #tick(): void {
    this.#timer = undefined;
    const source = this.#source!;
    try {
      const value = source();
      if (value !== undefined) this.update(value);
    } catch (error) {
      if (this.#events.wants('error')) {
        this.#events.emit('error', { degrader: this.name, at: this.#clock.now(), error });
      }
    }
    // A listener or the source may have stopped polling during the tick.
    if (this.#polling && this.#timer === undefined) this.#schedule();
  }

  #onLevel(reading: PressureEvents['level']): void {
    if (!this.#events.wants('level')) return;
    this.#events.emit('level', {
      degrader: this.name,
      at: reading.at,
      level: reading.level,
      previous: reading.previous,
      score: reading.score,
      raw: reading.raw.score,
      dominant: this.#fromScore ? 'score' : reading.raw.dominant,
    });
  }
}

class SheddingPolicy implements Policy {
  readonly name: string;
  readonly #degrader: Degrader;
  readonly #retryAfterMs: number;
  readonly #levels: PriorityLevels;
  readonly #elevated: number;
  readonly #critical: number;

  constructor(degrader: Degrader, retryAfterMs: number, options: DegradePolicyOptions | undefined) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ConfigError('options', options, 'an object');
    }
    this.name = degrader.name;
    this.#degrader = degrader;
    this.#retryAfterMs = retryAfterMs;
    const levels = new PriorityLevels('priorities', options?.priorities);
    this.#levels = levels;
    const elevated = options?.elevated;
    const critical = options?.critical;
    this.#elevated =
      elevated === undefined ? Math.max(levels.count - 2, 0) : levels.index(elevated, 'elevated');
    this.#critical = critical === undefined ? 0 : levels.index(critical, 'critical');
    if (this.#critical > this.#elevated) {
      throw new ConfigError('critical', critical ?? levels.names[0], `no less important than elevated`);
    }
  }

  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    let priority: number;
    try {
      priority = this.#levels.index(options?.priority);
    } catch (error) {
      return Promise.reject(error);
    }
    const level = this.#degrader.level;
    const admitted = level === 'critical' ? this.#critical : level === 'elevated' ? this.#elevated : Infinity;
    if (priority > admitted) {
      return Promise.reject(
        new RejectedError(
          'shed',
          { limit: 0, inflight: 0, queued: 0, retryAfterMs: this.#retryAfterMs, priority },
          `sluice: degrader "${this.#degrader.name}" shed a "${this.#levels.names[priority]}" call at ${level} pressure ` +
            `(admits "${this.#levels.names[admitted]}" and more important); retry after ${Math.ceil(this.#retryAfterMs)} ms`,
        ),
      );
    }
    try {
      return Promise.resolve(fn(contextOf(options))) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

function pick<T>(variants: DegradeVariants<T>, level: PressureLevel): DegradeVariant<T> {
  if (typeof variants !== 'object' || variants === null || typeof variants.normal !== 'function') {
    throw new ConfigError('variants.normal', (variants as { normal?: unknown } | null)?.normal, 'a function');
  }
  if (level === 'critical' && variants.critical !== undefined) return variants.critical;
  if (level !== 'normal' && variants.elevated !== undefined) return variants.elevated;
  return variants.normal;
}

/**
 * Inputs that a meter with the default queue weight scores exactly `s`: the queue component alone, at the
 * occupancy whose smoothstep is `s` (the curve with no tolerance to configure). A meter with another
 * `weights.queue` scales the score by it.
 */
function scoreInputs(s: number): PressureInputs {
  // Inverse of t²(3 - 2t) on [0, 1].
  const t = 0.5 - Math.sin(Math.asin(1 - 2 * s) / 3);
  return { queueDepth: Math.min(Math.max(t, 0), 1), queueCapacity: 1 };
}
