import type { Limit, LimitSample } from '../../src/limits/limit.ts';

export interface FluidOptions {
  /** Concurrency the downstream serves without queueing. */
  capacity: number;
  /** Latency without a queue (ms). */
  baseMs: number;
  /** A request slower than this (ms) is dropped, its sample carrying this latency. Default Infinity. */
  timeoutMs?: number;
}

/**
 * A noise-free closed loop, sample by sample: the caller always keeps `limit.current` requests in flight; a
 * request's latency is `baseMs * max(1, inflight / capacity)` (Little's law for a saturated server with a
 * queue), and the requests of one round trip complete evenly spread over it. Without noise, an algorithm's
 * drift shows plainly: nothing but its own rules moves the limit.
 */
export class Fluid {
  readonly limit: Limit;
  readonly options: FluidOptions;
  now = 0;

  constructor(limit: Limit, options: FluidOptions) {
    this.limit = limit;
    this.options = options;
  }

  /** Feeds samples until `ms` of time has passed; calls `each` after every sample. */
  run(ms: number, each?: (sample: LimitSample) => void): void {
    const end = this.now + ms;
    while (this.now < end) {
      const inflight = this.limit.current;
      const { capacity, baseMs, timeoutMs = Number.POSITIVE_INFINITY } = this.options;
      const latency = baseMs * Math.max(1, inflight / capacity);
      const dropped = latency > timeoutMs;
      const rtt = dropped ? timeoutMs : latency;
      this.now += rtt / inflight;
      const sample = { now: this.now, rtt, inflight, dropped };
      this.limit.update(sample);
      each?.(sample);
    }
  }
}
