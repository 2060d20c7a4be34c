const blocks = '▁▂▃▄▅▆▇█';

export interface SparklineOptions {
  /** Characters at most; a longer series is averaged down (each character covers a run of buckets). */
  readonly width: number;
  /** Value drawn as the lowest block. Default 0. */
  readonly min?: number;
  /** Value drawn as the full block. Default the series' maximum. */
  readonly max?: number;
}

/**
 * A series as Unicode block characters, one per bucket (or per run of buckets), scaled between `min`
 * and `max`. A bucket without a value is a space, so gaps stay visible.
 *
 * ```ts
 * sparkline([0, 2, 4, 8], { width: 10 }); // "▁▂▄█"
 * ```
 */
export function sparkline(values: readonly (number | null)[], options: SparklineOptions): string {
  const points = resample(values, Math.max(1, Math.floor(options.width)));
  const min = options.min ?? 0;
  let max = options.max ?? -Infinity;
  if (options.max === undefined) for (const v of points) if (v !== null && v > max) max = v;
  const span = max - min;
  let out = '';
  for (const v of points) {
    if (v === null) out += ' ';
    else if (!(span > 0)) out += blocks[0];
    else {
      const k = Math.round(((v - min) / span) * (blocks.length - 1));
      out += blocks[Math.min(blocks.length - 1, Math.max(0, k))];
    }
  }
  return out;
}

/** `values` in at most `width` points: each the mean of the non-null values it covers (null if none). */
export function resample(values: readonly (number | null)[], width: number): (number | null)[] {
  const n = values.length;
  if (n <= width) return [...values];
  const out: (number | null)[] = [];
  for (let i = 0; i < width; i++) {
    const from = Math.floor((i * n) / width);
    const to = Math.floor(((i + 1) * n) / width);
    let sum = 0;
    let k = 0;
    for (let j = from; j < to; j++) {
      const v = values[j];
      if (v != null) {
        sum += v;
        k++;
      }
    }
    out.push(k === 0 ? null : sum / k);
  }
  return out;
}
