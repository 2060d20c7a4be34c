/**
 * How latency answers concurrency, over the recent rounds of a limit: the slope of log latency against log
 * requests in flight, by least squares. A queue makes latency proportional to concurrency (slope near 1,
 * Little's law); a downstream with free capacity answers as fast at any concurrency (slope near 0). A
 * latency-gradient limit that sees latency above its no-load level reads it as a queue and cuts; when the
 * downstream itself became slower (a slower dependency, a CPU-starved worker) that cut sheds work the
 * downstream could have done, round after round, until probes re-learn the no-load latency. The rounds
 * around the cuts answer the question directly: latency that stayed put while concurrency halved was not
 * a queue.
 */
export class Elasticity {
  readonly #x: Float64Array;
  readonly #y: Float64Array;
  #next = 0;
  #size = 0;

  constructor(capacity = ROUNDS) {
    this.#x = new Float64Array(capacity);
    this.#y = new Float64Array(capacity);
  }

  /** Records a finished round: its mean requests in flight and mean latency (ms). */
  add(inflight: number, rtt: number): void {
    if (!(inflight > 0 && rtt > 0)) return;
    this.#x[this.#next] = Math.log(inflight);
    this.#y[this.#next] = Math.log(rtt);
    this.#next = (this.#next + 1) % this.#x.length;
    if (this.#size < this.#x.length) this.#size++;
  }

  /** The most requests in flight among the remembered rounds (0 when there are none). */
  get peak(): number {
    let hi = 0;
    for (let i = 0; i < this.#size; i++) hi = Math.max(hi, Math.exp(this.#x[i]!));
    return hi;
  }

  /** Forgets every round (the downstream changed in a way the rounds before cannot describe). */
  clear(): void {
    this.#size = 0;
    this.#next = 0;
  }

  /**
   * True when the recent rounds span concurrency by `SPREAD` or more and latency neither followed it (a
   * slope within `FLAT` of 0) nor moved much at all (its spread within `STEADY` of the concurrency's): the
   * latency is the downstream's own, whatever its level.
   */
  flat(): boolean {
    const n = this.#size;
    if (n < MIN_ROUNDS) return false;
    let mx = 0;
    let my = 0;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const x = this.#x[i]!;
      mx += x;
      my += this.#y[i]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (hi - lo < Math.log(SPREAD)) return false;
    mx /= n;
    my /= n;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i < n; i++) {
      const dx = this.#x[i]! - mx;
      const dy = this.#y[i]! - my;
      sxy += dx * dy;
      sxx += dx * dx;
      syy += dy * dy;
    }
    // Flat, and steady: latency that rose in some rounds and fell in others as concurrency fell (the rounds
    // around a sudden capacity drop, whose requests started before it) is a transient, not a verdict.
    return Math.abs(sxy / sxx) < FLAT && syy < STEADY * STEADY * sxx;
  }
}

/** Rounds remembered. */
const ROUNDS = 16;
/** Fewest rounds a verdict needs. */
const MIN_ROUNDS = 6;
/** Least ratio of the highest to the lowest concurrency among the rounds for a verdict. */
const SPREAD = 2;
/**
 * Slopes below this are flat: a third of the way from no queue (0) to a queue holding all the excess (1),
 * where a round's noise (10-20% on a lognormal service) moves a slope fitted over a twofold spread by less
 * than 0.1.
 */
const FLAT = 0.3;
/** Most spread of log latency, as a share of the spread of log concurrency, for a verdict. */
const STEADY = 0.6;
