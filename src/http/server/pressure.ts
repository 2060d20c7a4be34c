import { getHeapStatistics } from 'node:v8';
import type { Clock, Timer } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { fraction, func, integer, or, positive } from '../../core/validate.ts';
import { CappedLimit } from '../../limits/capped.ts';
import type { Limit } from '../../limits/limit.ts';
import { EventLoopMonitor } from '../../signals/event-loop.ts';
import type { PressureLevel } from '../../signals/pressure.ts';

/** What the process reports about its own health, read once per interval. NaN means "unknown". */
export interface LoadReading {
  /** 99th percentile of the event-loop delay over the last interval (ms). */
  readonly eventLoopDelayMs: number;
  /** Fraction of the last interval the event loop was busy, in [0, 1]. */
  readonly eventLoopUtilization: number;
  /** Heap in use as a fraction of the heap's size limit, in [0, 1]. */
  readonly heapUsed: number;
}

export interface ServerPressureOptions {
  /** Time between readings (ms). Default 1000. */
  readonly interval?: number;
  /** Event-loop delay p99 (ms) at which the process is critical. Default 200. */
  readonly maxEventLoopDelay?: number;
  /**
   * Event-loop utilisation at which the process is critical, in (0, 1], counted only while the loop also lags
   * (its delay p99 at least a tenth of `maxEventLoopDelay`). Default 0.98.
   */
  readonly maxEventLoopUtilization?: number;
  /** Heap used, as a fraction of the heap limit, at which the process is critical, in (0, 1]. Default 0.9. */
  readonly maxHeapUsed?: number;
  /** Fraction of each maximum at which the process is elevated, in (0, 1). Default 0.7. */
  readonly elevatedAt?: number;
  /** Lowest limit the pressure cap imposes, an integer >= 1. Default 1. */
  readonly minLimit?: number;
  /**
   * Reads the load. Default: an `EventLoopMonitor` on the same clock and interval for the delay and the
   * utilisation, and `process.memoryUsage().heapUsed` over V8's heap size limit.
   */
  readonly read?: () => LoadReading;
}

const NO_LOAD: LoadReading = Object.freeze({
  eventLoopDelayMs: Number.NaN,
  eventLoopUtilization: Number.NaN,
  heapUsed: Number.NaN,
});

/**
 * Utilisation counts only while the event-loop delay p99 is at least this fraction of its maximum. A loop
 * busy all the time that still answers within a few milliseconds is fully used, not overloaded: a hello-world
 * route under a closed-loop benchmark runs at 0.98-1.0 with a delay p99 of 1-13 ms, and reading that as
 * critical capped its limit at 1 and put every request through the queue (and a service at 70% of a core
 * was elevated, shedding its sheddable traffic).
 */
const UTILIZATION_NEEDS_DELAY = 0.1;
/** Leaving a level takes the load ratio below this fraction of the threshold that entered it. */
const HYSTERESIS = 0.9;
/** Cap multipliers per reading: elevated trims, critical halves; normal grows the cap by 10 % (at least 1). */
const ELEVATED_FACTOR = 0.9;
const CRITICAL_FACTOR = 0.5;
const GROWTH = 0.1;

/**
 * Process pressure as a ceiling on an adaptive limit.
 *
 * Why a ceiling and not fixed thresholds that refuse everything (what @fastify/under-pressure does): a
 * blocked event loop or a full heap means every admitted request costs more than the latency-based
 * algorithm has learnt, but the algorithm only sees it once latency has already risen, and never sees the
 * heap. The ceiling closes that gap: each reading under pressure cuts it multiplicatively from what the
 * server is doing now (in flight, since a ceiling above it would not bite for many readings), and each
 * normal reading grows it back by 10 % until it no longer binds and is removed. The limiter then queues
 * and sheds by priority as for any limit, so important traffic keeps flowing while the process recovers,
 * instead of a binary 503 for everyone. The inner algorithm keeps learning underneath, untouched.
 *
 * The level is the largest load ratio (reading / its maximum; utilisation only while the loop lags, see
 * `UTILIZATION_NEEDS_DELAY`): critical at >= 1, elevated at >= `elevatedAt`, each left once the ratio falls
 * below 90 % of its threshold.
 */
export class ProcessPressure extends CappedLimit {
  readonly name: string;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #maxDelay: number;
  readonly #maxElu: number;
  readonly #maxHeap: number;
  readonly #elevatedAt: number;
  readonly #minLimit: number;
  readonly #read: () => LoadReading;
  readonly #monitor: EventLoopMonitor | undefined;
  readonly #inflight: () => number;
  #level: PressureLevel = 'normal';
  #ratio = 0;
  #load: LoadReading = NO_LOAD;
  #timer: Timer | undefined = undefined;
  readonly #tick = (): void => {
    this.sample();
    this.#timer = this.#clock.setTimer(this.#tick, this.#interval, { ref: false });
  };

  constructor(inner: Limit, clock: Clock, inflight: () => number, options: ServerPressureOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('pressure', options, 'an options object or false');
    super(inner);
    this.name = `pressure(${inner.name})`;
    this.#clock = clock;
    this.#inflight = inflight;
    this.#interval = positive('pressure.interval', or(options.interval, 1000));
    this.#maxDelay = positive('pressure.maxEventLoopDelay', or(options.maxEventLoopDelay, 200));
    this.#maxElu = openUnit('pressure.maxEventLoopUtilization', or(options.maxEventLoopUtilization, 0.98));
    this.#maxHeap = openUnit('pressure.maxHeapUsed', or(options.maxHeapUsed, 0.9));
    this.#elevatedAt = fraction('pressure.elevatedAt', or(options.elevatedAt, 0.7), { open: true });
    this.#minLimit = integer('pressure.minLimit', or(options.minLimit, 1), 1);
    if (options.read === undefined) {
      const monitor = new EventLoopMonitor({ clock, interval: this.#interval });
      this.#monitor = monitor;
      const limit = getHeapStatistics().heap_size_limit;
      this.#read = () => ({
        eventLoopDelayMs: monitor.reading.delayP99Ms,
        eventLoopUtilization: monitor.reading.utilization,
        heapUsed: process.memoryUsage().heapUsed / limit,
      });
    } else {
      this.#read = func('pressure.read', options.read);
      this.#monitor = undefined;
    }
    inner.onChange(() => this.#publish('inner'));
  }

  get level(): PressureLevel {
    return this.#level;
  }

  /** The largest load ratio at the last reading (1 is critical). */
  get ratio(): number {
    return this.#ratio;
  }

  get load(): LoadReading {
    return this.#load;
  }

  /** Starts the periodic readings (idempotent). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#monitor?.start();
    this.#timer = this.#clock.setTimer(this.#tick, this.#interval, { ref: false });
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#monitor?.stop();
  }

  /** Takes one reading and moves the level and the ceiling; the timer calls it every interval. */
  sample(): void {
    const load = this.#read();
    this.#load = load;
    const delay = nonNaN(load.eventLoopDelayMs / this.#maxDelay);
    const ratio = Math.max(
      delay,
      delay >= UTILIZATION_NEEDS_DELAY ? nonNaN(load.eventLoopUtilization / this.#maxElu) : 0,
      nonNaN(load.heapUsed / this.#maxHeap),
    );
    this.#ratio = ratio;
    const e = this.#elevatedAt;
    const was = this.#level;
    const level: PressureLevel =
      ratio >= 1 || (was === 'critical' && ratio >= HYSTERESIS)
        ? 'critical'
        : ratio >= e || (was !== 'normal' && ratio >= e * HYSTERESIS)
          ? 'elevated'
          : 'normal';
    this.#level = level;
    if (level === 'normal') {
      const cap = this.cap;
      if (cap !== Number.POSITIVE_INFINITY) {
        const grown = Math.ceil(cap + Math.max(1, cap * GROWTH));
        this.setCap(grown >= this.inner.current ? Number.POSITIVE_INFINITY : grown);
      }
    } else {
      const base = Math.min(this.current, Math.max(this.#inflight(), this.#minLimit));
      const factor = level === 'critical' ? CRITICAL_FACTOR : ELEVATED_FACTOR;
      this.setCap(Math.max(this.#minLimit, Math.floor(base * factor)));
    }
    this.#publish(level);
  }

  #publish(rule: string): void {
    this.publish(rule === 'inner' ? 'inner' : `pressure-${rule}`, { cap: this.cap, ratio: this.#ratio });
  }
}

function nonNaN(x: number): number {
  return Number.isNaN(x) ? 0 : x;
}

function openUnit(option: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1))
    throw new ConfigError(option, value, 'a number in (0, 1]');
  return value;
}
