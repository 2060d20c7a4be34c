import { ConfigError } from '../core/errors.ts';
import { checkKeys, isPlainObject } from '../core/spec.ts';
import { finite, positive } from '../core/validate.ts';

/**
 * Seeded randomness for the simulator: a small PRNG and the distributions scenarios draw from.
 *
 * The generator is xoshiro128** (Blackman and Vigna), written out here rather than taken from a package:
 * `src/` has no runtime dependencies, `Math.random()` cannot be seeded, and the whole generator is a dozen
 * 32-bit integer operations that V8 compiles to machine instructions, so it costs a few nanoseconds a draw.
 * It passes BigCrush, has a period of 2^128 - 1, and its output is defined bit for bit, which is what makes
 * a run reproducible on any machine: same seed, same draws, same result.
 *
 * Every model draws from its own stream (`new Random(seed, "arrivals/0")`, `"service"`, ...), so that a
 * change to one model, or a policy that sheds a different set of requests, does not shift the numbers
 * another model sees. Two scenarios that differ only in their policy therefore meet the same arrivals and
 * the same service demands (common random numbers), which is what makes `--compare` meaningful.
 */
export class Random {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  /** Second value of the last polar-method pair, or NaN. */
  #spare = Number.NaN;

  /** `seed` is any number or string; `stream` names an independent sequence derived from the same seed. */
  constructor(seed: number | string, stream = '') {
    const text = `${typeof seed === 'number' ? numberKey(seed) : `s:${seed}`}\u0000${stream}`;
    const a = splitmix32(fnv1a(text));
    const b = splitmix32(murmurish(text));
    this.#s0 = a();
    this.#s1 = a();
    this.#s2 = b();
    this.#s3 = b();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1; // the one forbidden state
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  uint32(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.uint32() >>> 5; // 27 bits
    const lo = this.uint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) * 1.1102230246251565e-16; // / 2^53
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Exponentially distributed with the given mean (> 0). */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next()); // 1 - u is in (0, 1]: the log is finite
  }

  /** Standard normal (mean 0, sd 1), by Marsaglia's polar method. */
  normal(): number {
    const spare = this.#spare;
    if (!Number.isNaN(spare)) {
      this.#spare = Number.NaN;
      return spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.#spare = v * m;
    return u * m;
  }
}

/** A source of non-negative numbers (service times in milliseconds, mostly). */
export interface Distribution {
  /** Short description for reports, e.g. `"lognormal(median 20, sigma 0.5)"`. */
  readonly label: string;
  /** The mean, where it exists (NaN for a Pareto with shape <= 1). */
  readonly mean: number;
  sample(random: Random): number;
}

/**
 * A distribution as it appears in a scenario (all values in milliseconds). A bare number is a constant.
 *
 * ```yaml
 * service: { type: lognormal, median: 20, p99: 200 }
 * ```
 */
export type DistributionSpec =
  | number
  | { readonly type: 'constant'; readonly value: number }
  | { readonly type: 'exponential'; readonly mean: number }
  | { readonly type: 'uniform'; readonly min: number; readonly max: number }
  /** Normal, truncated below at `min` (default 0) by clamping. */
  | { readonly type: 'normal'; readonly mean: number; readonly sd: number; readonly min?: number }
  /**
   * Lognormal, given by its `median` and either `sigma` (of the underlying normal) or `p99`; or by its
   * `mean` and `sigma`.
   */
  | {
      readonly type: 'lognormal';
      readonly median?: number;
      readonly mean?: number;
      readonly sigma?: number;
      readonly p99?: number;
    }
  /** Pareto: `scale` is the minimum value, `shape` the tail index (heavier tail when smaller). */
  | { readonly type: 'pareto'; readonly scale: number; readonly shape: number }
  /**
   * Empirical: either observed `values` (drawn uniformly; with `interpolate`, between neighbours of the
   * sorted values), or `quantiles` mapping percentiles to values
   * (`{ "0": 2, "50": 10, "99": 80, "100": 300 }`), interpolated linearly; below the first and above the
   * last given percentile the value is flat.
   */
  | {
      readonly type: 'empirical';
      readonly values?: readonly number[];
      readonly interpolate?: boolean;
      readonly quantiles?: Readonly<Record<string, number>>;
    };

const Z99 = 2.3263478740408408; // standard normal 99th percentile

/** Builds a distribution from its scenario form; throws `ConfigError` naming `path` on a bad spec. */
export function distribution(spec: unknown, path: string): Distribution {
  if (typeof spec === 'number') return constant(finite(path, spec, 0));
  if (!isPlainObject(spec)) throw new ConfigError(path, spec, 'a number (constant) or a distribution object');
  const type = spec['type'];
  const at = (k: string): string => `${path}.${k}`;
  switch (type) {
    case 'constant':
      checkKeys(path, spec, ['type', 'value']);
      return constant(finite(at('value'), spec['value'], 0));
    case 'exponential': {
      checkKeys(path, spec, ['type', 'mean']);
      const mean = positive(at('mean'), spec['mean']);
      return { label: `exponential(mean ${mean})`, mean, sample: (r) => r.exponential(mean) };
    }
    case 'uniform': {
      checkKeys(path, spec, ['type', 'min', 'max']);
      const min = finite(at('min'), spec['min'], 0);
      const max = finite(at('max'), spec['max'], min);
      const span = max - min;
      return {
        label: `uniform(${min}, ${max})`,
        mean: (min + max) / 2,
        sample: (r) => min + span * r.next(),
      };
    }
    case 'normal': {
      checkKeys(path, spec, ['type', 'mean', 'sd', 'min']);
      const mean = finite(at('mean'), spec['mean']);
      const sd = finite(at('sd'), spec['sd'], 0);
      const min = spec['min'] === undefined ? 0 : finite(at('min'), spec['min'], 0);
      return {
        label: `normal(mean ${mean}, sd ${sd}, min ${min})`,
        mean: Math.max(mean, min), // approximate when truncation bites
        sample: (r) => Math.max(min, mean + sd * r.normal()),
      };
    }
    case 'lognormal':
      return lognormal(spec, path);
    case 'pareto': {
      checkKeys(path, spec, ['type', 'scale', 'shape']);
      const scale = positive(at('scale'), spec['scale']);
      const shape = positive(at('shape'), spec['shape']);
      const inv = -1 / shape;
      return {
        label: `pareto(scale ${scale}, shape ${shape})`,
        mean: shape > 1 ? (shape * scale) / (shape - 1) : Number.NaN,
        sample: (r) => scale * (1 - r.next()) ** inv,
      };
    }
    case 'empirical':
      return empirical(spec, path);
    default:
      throw new ConfigError(
        at('type'),
        type,
        'one of "constant", "exponential", "uniform", "normal", "lognormal", "pareto", "empirical"',
      );
  }
}

function constant(value: number): Distribution {
  return { label: `constant(${value})`, mean: value, sample: () => value };
}

function lognormal(spec: Record<string, unknown>, path: string): Distribution {
  checkKeys(path, spec, ['type', 'median', 'mean', 'sigma', 'p99']);
  const has = (k: string): boolean => spec[k] !== undefined;
  let mu: number;
  let sigma: number;
  if (has('median') && has('sigma') && !has('p99') && !has('mean')) {
    mu = Math.log(positive(`${path}.median`, spec['median']));
    sigma = finite(`${path}.sigma`, spec['sigma'], 0);
  } else if (has('median') && has('p99') && !has('sigma') && !has('mean')) {
    const median = positive(`${path}.median`, spec['median']);
    const p99 = finite(`${path}.p99`, spec['p99'], median);
    mu = Math.log(median);
    sigma = Math.log(p99 / median) / Z99;
  } else if (has('mean') && has('sigma') && !has('median') && !has('p99')) {
    sigma = finite(`${path}.sigma`, spec['sigma'], 0);
    mu = Math.log(positive(`${path}.mean`, spec['mean'])) - (sigma * sigma) / 2;
  } else {
    throw new ConfigError(
      path,
      spec,
      'a lognormal given by { median, sigma }, { median, p99 } or { mean, sigma }',
    );
  }
  return {
    label: `lognormal(median ${round(Math.exp(mu))}, sigma ${round(sigma)})`,
    mean: Math.exp(mu + (sigma * sigma) / 2),
    sample: (r) => Math.exp(mu + sigma * r.normal()),
  };
}

function empirical(spec: Record<string, unknown>, path: string): Distribution {
  checkKeys(path, spec, ['type', 'values', 'interpolate', 'quantiles']);
  const values = spec['values'];
  const quantiles = spec['quantiles'];
  if ((values === undefined) === (quantiles === undefined)) {
    throw new ConfigError(
      path,
      spec,
      'an empirical distribution with exactly one of `values` or `quantiles`',
    );
  }
  if (values !== undefined) {
    if (!Array.isArray(values) || values.length === 0) {
      throw new ConfigError(`${path}.values`, values, 'a non-empty array of numbers >= 0');
    }
    const xs = values.map((v, i) => finite(`${path}.values[${i}]`, v, 0));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const interpolate = spec['interpolate'] ?? false;
    if (typeof interpolate !== 'boolean')
      throw new ConfigError(`${path}.interpolate`, interpolate, 'a boolean');
    const n = xs.length;
    if (!interpolate || n === 1) {
      return { label: `empirical(${n} values)`, mean, sample: (r) => xs[Math.floor(r.next() * n)]! };
    }
    xs.sort((a, b) => a - b);
    return {
      label: `empirical(${n} values, interpolated)`,
      mean,
      sample: (r) => inverse(xs, r.next() * (n - 1)),
    };
  }
  if (!isPlainObject(quantiles)) {
    throw new ConfigError(`${path}.quantiles`, quantiles, 'an object mapping percentiles (0-100) to values');
  }
  const points = Object.entries(quantiles).map(([k, v]) => {
    const q = Number(k);
    if (k.trim() === '' || !Number.isFinite(q) || q < 0 || q > 100) {
      throw new ConfigError(`${path}.quantiles`, k, 'percentile keys in [0, 100]');
    }
    return [q / 100, finite(`${path}.quantiles.${k}`, v, 0)] as const;
  });
  if (points.length < 2) throw new ConfigError(`${path}.quantiles`, quantiles, 'at least two percentiles');
  points.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < points.length; i++) {
    if (points[i]![1] < points[i - 1]![1]) {
      throw new ConfigError(
        `${path}.quantiles`,
        quantiles,
        'values that do not decrease as the percentile rises',
      );
    }
  }
  const qs = points.map((p) => p[0]);
  const vs = points.map((p) => p[1]);
  const sample = (u: number): number => {
    if (u <= qs[0]!) return vs[0]!;
    for (let i = 1; i < qs.length; i++) {
      if (u <= qs[i]!) {
        const q0 = qs[i - 1]!;
        const span = qs[i]! - q0;
        return span === 0 ? vs[i]! : vs[i - 1]! + ((vs[i]! - vs[i - 1]!) * (u - q0)) / span;
      }
    }
    return vs[vs.length - 1]!;
  };
  // The mean of a piecewise-linear inverse CDF with flat ends.
  let mean = qs[0]! * vs[0]! + (1 - qs[qs.length - 1]!) * vs[vs.length - 1]!;
  for (let i = 1; i < qs.length; i++) mean += ((qs[i]! - qs[i - 1]!) * (vs[i]! + vs[i - 1]!)) / 2;
  return { label: `empirical(${points.length} quantiles)`, mean, sample: (r) => sample(r.next()) };
}

/** Linear interpolation into sorted `xs` at fractional index `x` in [0, n-1]. */
function inverse(xs: readonly number[], x: number): number {
  const i = Math.floor(x);
  const lo = xs[i]!;
  const hi = xs[i + 1];
  return hi === undefined ? lo : lo + (hi - lo) * (x - i);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A canonical text for a numeric seed (so 1 and 1.0 agree, and -0 equals 0). */
function numberKey(seed: number): string {
  return `n:${Object.is(seed, -0) ? 0 : seed}`;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A second, independent 32-bit string hash (multiply-rotate), so the 128-bit state gets 64 seed bits. */
function murmurish(text: string): number {
  let h = 0x9e3779b9;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** SplitMix32: spreads one 32-bit seed into a sequence of well-mixed words for the state. */
function splitmix32(seed: number): () => number {
  let x = seed | 0;
  return () => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}
