/**
 * Backoff strategies: how long a retry policy waits before each retry. A strategy is a pure function of the
 * retry number, the previous delay and a random source, so one instance can serve many concurrent calls and
 * many policies, and a seeded random source makes its sequence exact in tests.
 */

/** A uniform random number in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

export interface Backoff {
  /** Short name for records: `"constant"`, `"exponential"`, `"full-jitter"`, `"decorrelated-jitter"`. */
  readonly name: string;
  /**
   * The delay (ms, >= 0) before retry number `retry` (1 for the first retry). `previous` is what this
   * strategy returned for the retry before (0 before the first); `random` supplies any jitter.
   */
  delay(retry: number, previous: number, random: RandomSource): number;
}

/** Options shared by the growing strategies. */
export interface GrowthOptions {
  /** Delay before the first retry (ms), the scale of the sequence. Default 100. */
  readonly base?: number;
  /** Largest delay any retry waits (ms). Default 10000. */
  readonly max?: number;
  /** Multiplier per retry (> 1 grows, 1 stays constant). Default 2. */
  readonly factor?: number;
}

/**
 * A seeded random source (splitmix32 over a 32-bit state), for deterministic jitter in tests and in the
 * simulator. Not for cryptography.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}
