import {
  type ELDHistogram,
  type EventLoopUtilization,
  monitorEventLoopDelay,
  performance,
} from 'node:perf_hooks';
import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { integer, or, positive } from '../core/validate.ts';

export interface EventLoopMonitorOptions {
  /** Schedules the sampling timer (unref'd, so it never keeps the process alive). Default the system clock. */
  readonly clock?: Clock;
  /** Time between readings in ms. Default 1000. */
  readonly interval?: number;
  /**
   * Period (ms) of the delay sampler (`monitorEventLoopDelay`'s `resolution`), an integer >= 1. Finer finds
   * shorter stalls and costs more wake-ups. Default 10.
   */
  readonly resolution?: number;
}

/** Event-loop health over the last interval. NaN until the first reading. */
export interface EventLoopReading {
  /** 99th percentile of the event-loop delay (ms), net of the sampler's resolution. */
  readonly delayP99Ms: number;
  /** Mean event-loop delay (ms), net of the sampler's resolution. */
  readonly delayMeanMs: number;
  /** Longest event-loop delay (ms), net of the sampler's resolution. */
  readonly delayMaxMs: number;
  /** Fraction of the interval the loop spent busy (not waiting for I/O), in [0, 1]. */
  readonly utilization: number;
}

const NO_READING: EventLoopReading = Object.freeze({
  delayP99Ms: Number.NaN,
  delayMeanMs: Number.NaN,
  delayMaxMs: Number.NaN,
  utilization: Number.NaN,
});

/**
 * Event-loop delay (`monitorEventLoopDelay`) and utilisation (`performance.eventLoopUtilization` deltas),
 * read every `interval` ms on a timer scheduled through the injected `Clock`. Each reading covers the time
 * since the previous one: the delay histogram is reset after every reading.
 *
 * The delay sampler wakes every `resolution` ms and records how late it ran; Node's figures include the
 * resolution itself, which is subtracted here so that an idle loop reads ~0. Delay figures are NaN in a
 * reading where the sampler never ran (the loop was blocked for the whole interval, or the interval was
 * shorter than the resolution); utilisation then still tells the story.
 *
 * This is the one signal that reads the real process: under a virtual clock the timer follows virtual time
 * but the figures are the real event loop's.
 */
export class EventLoopMonitor {
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #resolution: number;
  #histogram: ELDHistogram | undefined = undefined;
  #elu: EventLoopUtilization | undefined = undefined;
  #timer: Timer | undefined = undefined;
  #reading: EventLoopReading = NO_READING;
  readonly #tick = (): void => {
    this.#timer = undefined;
    if (this.#histogram === undefined) return;
    this.sample();
    this.#schedule();
  };

  constructor(options?: EventLoopMonitorOptions) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new ConfigError('options', options, 'an object');
    }
    const clock = or(options?.clock, systemClock);
    if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') {
      throw new ConfigError('clock', clock, 'a Clock');
    }
    this.#clock = clock;
    this.#interval = positive('interval', or(options?.interval, 1000));
    this.#resolution = integer('resolution', or(options?.resolution, 10), 1);
  }

  /** True between `start` and `stop`. */
  get running(): boolean {
    return this.#histogram !== undefined;
  }

  /** The latest reading; every field NaN before the first. */
  get reading(): EventLoopReading {
    return this.#reading;
  }

  /** Starts sampling (idempotent). */
  start(): void {
    if (this.#histogram !== undefined) return;
    this.#histogram = monitorEventLoopDelay({ resolution: this.#resolution });
    this.#histogram.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#schedule();
  }

  /** Stops sampling and cancels the timer (idempotent). The last reading stays readable. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#histogram?.disable();
    this.#histogram = undefined;
    this.#elu = undefined;
  }

  /**
   * Takes a reading now, covering the time since the previous one (or since `start`), and returns it. The
   * timer calls this every `interval`; call it directly for an immediate reading. Returns the last reading
   * when not running.
   */
  sample(): EventLoopReading {
    const h = this.#histogram;
    const since = this.#elu;
    if (h === undefined || since === undefined) return this.#reading;
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, since).utilization;
    this.#elu = now;
    const sampled = h.count > 0;
    const r = this.#resolution;
    this.#reading = {
      delayP99Ms: sampled ? net(h.percentile(99), r) : Number.NaN,
      delayMeanMs: sampled ? net(h.mean, r) : Number.NaN,
      delayMaxMs: sampled ? net(h.max, r) : Number.NaN,
      utilization: Number.isFinite(utilization) ? Math.min(1, Math.max(0, utilization)) : 0,
    };
    h.reset();
    return this.#reading;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimer(this.#tick, this.#interval, { ref: false });
  }
}

/** Nanoseconds to ms, less the sampler's resolution, floored at 0. */
function net(ns: number, resolutionMs: number): number {
  const ms = ns / 1e6 - resolutionMs;
  return Math.max(ms, 0);
}
