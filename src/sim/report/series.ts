import type { SimResult } from '../run.ts';

/**
 * Per-bucket views of a run's series, as the reports plot them: counts become rates per second (the
 * last bucket may be shorter than the others), gauges are read by name (absent for a policy without them).
 */

/** Width of each bucket in seconds. */
export function bucketSeconds(result: SimResult): number[] {
  const { time, bucket } = result.series;
  const end = result.settings.duration;
  return time.map((t) => Math.max(1e-9, Math.min(bucket, end - t)) / 1000);
}

/** Counts per bucket as events per second. */
export function perSecond(result: SimResult, counts: readonly number[]): number[] {
  const widths = bucketSeconds(result);
  return counts.map((c, i) => c / widths[i]!);
}

/** A gauge's per-bucket means, or `undefined` when the run's policy does not report it. */
export function gauge(result: SimResult, name: string): (number | null)[] | undefined {
  return result.series.gauges[name];
}

/** The largest value of several series (0 when none has a value). */
export function maxOf(...series: readonly (readonly (number | null)[] | undefined)[]): number {
  let max = 0;
  for (const s of series) if (s !== undefined) for (const v of s) if (v !== null && v > max) max = v;
  return max;
}
