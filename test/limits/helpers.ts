import type { Limit, LimitChange, LimitSample } from '../../src/limits/limit.ts';
import type { Fluid } from '../helpers/fluid.ts';

/** Records every change of `limit`, stamped with the time of the sample that caused it. */
export function record(limit: Limit): LimitChange[] {
  const changes: LimitChange[] = [];
  limit.onChange((change) => changes.push(change));
  return changes;
}

export interface SteadyOptions {
  /** Latency of every request (ms). */
  readonly rtt: number;
  /** Requests in flight each saw; default the limit's current value (a caller that fills it). */
  readonly inflight?: number;
  /** Whether each request dropped; default false. */
  readonly dropped?: boolean;
}

/**
 * Feeds `limit` completions from `from` for `ms`, as a caller keeping `inflight` requests of steady latency in
 * flight would see them: spaced `rtt / inflight` apart. Returns the time of the last.
 */
export function steady(limit: Limit, from: number, ms: number, options: SteadyOptions): number {
  let now = from;
  while (now < from + ms) {
    const inflight = options.inflight ?? limit.current;
    now += options.rtt / inflight;
    limit.update({ now, rtt: options.rtt, inflight, dropped: options.dropped ?? false });
  }
  return now;
}

/** One sample. */
export function sample(now: number, rtt: number, inflight: number, dropped = false): LimitSample {
  return { now, rtt, inflight, dropped };
}

/** Records every change of `limit` with the time `now()` reads when it happens. */
export function recordTimed(limit: Limit, now: () => number): (LimitChange & { readonly t: number })[] {
  const changes: (LimitChange & { readonly t: number })[] = [];
  limit.onChange((change) => changes.push({ ...change, t: now() }));
  return changes;
}

/** The lowest and highest of `values` (no spread: runs produce more values than a call takes arguments). */
export function range(values: readonly number[]): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Runs `fluid` for `ms`; returns the range of limits held after each sample outside probes. */
export function settled(fluid: Fluid, ms: number, probing: () => boolean): [number, number] {
  const seen: number[] = [];
  fluid.run(ms, () => {
    if (!probing()) seen.push(fluid.limit.current);
  });
  return range(seen);
}
