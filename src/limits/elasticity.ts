/**
 * How latency answers concurrency, over the rounds of one episode of elevated latency: the slope of log
 * latency against log requests in flight, by weighted least squares over levels of concurrency. A queue
 * makes latency proportional to concurrency (slope near 1, Little's law); a downstream with free capacity
 * answers as fast at any concurrency (slope near 0). A latency-gradient limit that sees latency above its
 * no-load level reads it as a queue and cuts; when the downstream itself became slower (a slower dependency,
 * a CPU-starved worker) that cut sheds work the downstream could have done, round after round, until probes
 * re-learn the no-load latency. The rounds around the cuts answer the question directly: latency that
 * stayed put while concurrency halved was not a queue.
 *
 * Rounds are kept by level (a quarter of an octave of concurrency each), as a count and mean log latency per
 * level, so that the rounds at the level the cuts started from are not forgotten while many more arrive at
 * the level they reached; a level's mean follows its last `LEVEL_WEIGHT` rounds.
 */
export class Elasticity {
  readonly #levels = new Map<number, { n: number; x: number; y: number }>();
  #rounds = 0;

  /** Records a finished round: its mean requests in flight and mean latency (ms). */
  add(inflight: number, rtt: number): void {
    if (!(inflight > 0 && rtt > 0 && Number.isFinite(inflight) && Number.isFinite(rtt))) return;
    const x = Math.log(inflight);
    const y = Math.log(rtt);
    const key = Math.round(x / LEVEL);
    const level = this.#levels.get(key);
    this.#rounds++;
    if (level === undefined) {
      this.#levels.set(key, { n: 1, x, y });
      return;
    }
    if (level.n < LEVEL_WEIGHT) level.n++;
    level.x += (x - level.x) / level.n;
    level.y += (y - level.y) / level.n;
  }

  /** Forgets every round (the episode ended). */
  clear(): void {
    this.#levels.clear();
    this.#rounds = 0;
  }

  /** Rounds recorded since the last `clear`. */
  get rounds(): number {
    return this.#rounds;
  }

  /** The most requests in flight among the levels seen (0 when none). */
  get peak(): number {
    let hi = 0;
    for (const level of this.#levels.values()) hi = Math.max(hi, Math.exp(level.x));
    return hi;
  }

  /**
   * True when the episode's rounds (at least `MIN_ROUNDS`, at `MIN_LEVELS` levels or more) span concurrency
   * by `SPREAD` or more and latency neither followed it (a slope within `FLAT` of 0) nor moved much at all
   * (its spread within `STEADY` of the concurrency's): the latency is the downstream's own, whatever its
   * level.
   */
  flat(): boolean {
    if (this.#rounds < MIN_ROUNDS || this.#levels.size < MIN_LEVELS) return false;
    let w = 0;
    let mx = 0;
    let my = 0;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const { n, x, y } of this.#levels.values()) {
      w += n;
      mx += n * x;
      my += n * y;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (hi - lo < Math.log(SPREAD)) return false;
    mx /= w;
    my /= w;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (const { n, x, y } of this.#levels.values()) {
      const dx = x - mx;
      const dy = y - my;
      sxy += n * dx * dy;
      sxx += n * dx * dx;
      syy += n * dy * dy;
    }
    // Flat, and steady: latency that rose at some levels and fell at others as concurrency fell (the rounds
    // around a sudden capacity drop, whose requests started before it) is a transient, not a verdict.
    return Math.abs(sxy / sxx) < FLAT && syy < STEADY * STEADY * sxx;
  }
}

/** Width of a level of concurrency, in log units: a quarter of an octave. */
const LEVEL = Math.LN2 / 4;
/** Rounds a level's mean follows. */
const LEVEL_WEIGHT = 8;
/** Fewest rounds a verdict needs. */
const MIN_ROUNDS = 6;
/** Fewest levels of concurrency a verdict needs: with two, one odd round can decide the slope. */
const MIN_LEVELS = 3;
/** Least ratio of the highest to the lowest level of concurrency for a verdict. */
const SPREAD = 2;
/**
 * Slopes within this of 0 are flat: a third of the way from no queue (0) to a queue holding all the excess
 * (1), where a round's noise (10-20% on a lognormal service) moves a slope fitted over a twofold spread by
 * less than 0.1.
 */
const FLAT = 0.3;
/** Most spread of log latency, as a share of the spread of log concurrency, for a verdict. */
const STEADY = 0.6;
