import { ConfigError } from '../core/errors.ts';
import { finite, fraction, or } from '../core/validate.ts';
import { type ProbeOptions, Prober } from './probe.ts';
import { RoundLimit } from './round-limit.ts';
import {
  type AdaptiveBounds,
  adaptiveDefaults,
  booleanOption,
  NEAR_LIMIT,
  SLOW_START_EXIT,
  weight,
} from './shared.ts';

export interface Gradient2Options extends AdaptiveBounds, ProbeOptions {
  /**
   * Requests the limit may queue beyond the capacity the gradient finds: a number, or a function of the limit.
   * It is also how fast the limit grows when latency holds (by `smoothing * queueSize` a round).
   * Default `max(2, sqrt(limit) / 2)`: 3.5 at 50, 5 at 100, 16 at 1000.
   */
  readonly queueSize?: number | ((limit: number) => number);
  /**
   * Share of the way each round moves the limit to its new target, in (0, 1]. Default 0.3 (Netflix uses 0.2
   * per sample; one decision per round needs less damping).
   */
  readonly smoothing?: number;
  /** Factor applied to the limit on a drop, in (0, 1). Default 0.9. */
  readonly backoff?: number;
  /**
   * Starts by doubling the limit every round trip, until the queue the gradient implies exceeds `queueSize`
   * and an eighth of the limit for two rounds in a row, or a request drops; resumes after four rounds in a
   * row with latency at its no-load level (within the noise of a round) at a full limit (the capacity
   * grew). Default true.
   */
  readonly slowStart?: boolean;
}

/** Rounds in a row with latency at its no-load level, at a full limit, after which slow start resumes. */
const RESUME_ROUNDS = 4;

/** Rounds in a row with latency at its no-load level after which a gradient below 1 is read as noise. */
const QUIET_ROUNDS = 2;

/**
 * The gradient of latency: each round, `gradient = clamp(longRtt / rtt, 0.5, 1)` and the limit moves a
 * `smoothing` share of the way to `limit * gradient + queueSize`. While latency holds at its long-term level
 * the limit grows by the queue allowance; as a queue builds the gradient falls and pulls the limit to the
 * capacity. At equilibrium the limit is the downstream's capacity plus about `queueSize` requests (5% above
 * it at 100, 7% at 50).
 *
 * Changes to Netflix's Gradient2, each against a weakness it shows:
 *
 * - Drops pull the limit down (by `backoff`, once per round trip). Netflix's ignores them: once timeouts cap
 *   latency the gradient reads 1, and the limit climbs by `queueSize` while requests fail.
 * - The long-term latency is an average of latencies measured without a queue of ours: the rounds of slow
 *   start, then probes (see {@link ProbeOptions}). Netflix's averages every sample, so a standing queue lifts
 *   it until the gradient reads 1 again, hiding the queue and letting the limit creep up with it.
 * - One decision per round trip, from the requests that saw the previous one (see `Round`), instead of one
 *   per sample reacting for a whole round trip to a queue already answered.
 * - Slow start, on a cold limit and again when the capacity evidently grew, instead of creeping up by the
 *   queue allowance.
 * - A slower downstream is told from a queue by how latency answered the cuts: latency that held while
 *   concurrency fell twofold was not a queue (see `Elasticity`), and becomes the no-load latency at once.
 *   Netflix's, and this one before, cut a service that merely slowed threefold to a fifth of its limit and
 *   shed two thirds of the load its workers had room for until probes re-learnt the latency, step by step.
 * - Noise is measured, not assumed away (see {@link ProbeOptions}): "latency at its no-load level" means
 *   within the noise of the rounds that say so, and probes judge only differences beyond the noise. A
 *   windowed median of ten requests varies by 15-20% from window to window; read as signal, that noise
 *   made probes step a healthy limit down to 1, and kept slow start from resuming after the capacity grew.
 *
 * Rounds are compared by their mean latency, and the long-term latency is a mean too, so per-request noise
 * does not bias the gradient the way a minimum would.
 */
export class Gradient2Limit extends RoundLimit {
  readonly name = 'gradient2';
  readonly #queueSize: (limit: number) => number;
  readonly #smoothing: number;
  protected readonly backoff: number;
  protected readonly probe: Prober;
  #longRtt = Number.NaN;
  #longCount = 0;
  #learning = true;
  #suspect = false;
  #clear = 0;
  /** Sum of the log excess of latency over its no-load level across the `#clear` rounds. */
  #clearExcess = 0;

  constructor(options: Gradient2Options = {}) {
    super('gradient2', options, adaptiveDefaults);
    this.#queueSize = queueSizeOption(options.queueSize);
    this.#smoothing = weight('gradient2.smoothing', or(options.smoothing, 0.3));
    this.backoff = fraction('gradient2.backoff', or(options.backoff, 0.9), { open: true });
    this.slowStarting = booleanOption('gradient2.slowStart', options.slowStart, true);
    this.probe = new Prober('gradient2', options);
    this.estimate = this.current;
  }

  /** The long-term (no-load) latency (ms) the gradient is measured against; 0 until the first round. */
  get rttNoLoad(): number {
    return Number.isNaN(this.#longRtt) ? 0 : this.#longRtt;
  }

  protected get baseline(): number {
    return this.#longRtt;
  }

  protected set baseline(value: number) {
    this.#longRtt = value;
  }

  protected override probeSignals(): Readonly<Record<string, number>> {
    return { noise: this.probe.noise };
  }

  protected decide(now: number, rtt: number, inflight: number, count: number): number {
    if (Number.isNaN(this.#longRtt)) this.#longRtt = rtt;
    const limit = this.estimate;
    const queueSize = this.#queueSize(limit);
    if (this.slowerDownstream(rtt, inflight, queueSize)) {
      this.#endClearRun();
      return this.rebaseline(rtt, inflight);
    }

    const gradient = Math.max(0.5, Math.min(1, this.#longRtt / rtt));
    const noise = this.probe.noise;
    const signals = { rtt, rttNoLoad: this.#longRtt, gradient, queueSize, inflight, noise };
    const near = inflight >= NEAR_LIMIT * this.current;
    // The queue this round implies, by Little's law: the share of its latency spent waiting, times the load.
    const queue = Math.min(limit, inflight) * (1 - gradient);
    if (this.slowStarting) {
      if (this.#learning && queue <= queueSize) {
        // Rounds before queueing are clean: the long-term latency is their mean, request by request.
        this.#longCount += count;
        this.#longRtt += (count / this.#longCount) * (rtt - this.#longRtt);
      }
      if (queue <= Math.max(queueSize, SLOW_START_EXIT * limit)) {
        this.#suspect = false;
        return near ? this.move(limit * 2, 'slow-start', signals) : this.current;
      }
      // One queueing round at the start may be the noise of a small round: hold, and leave only if the next
      // one queues too. A resumed ramp has rounds as large as the limit, and leaves at once.
      if (this.#learning && !this.#suspect) {
        this.#suspect = true;
        return this.current;
      }
      this.slowStarting = false;
      this.#suspect = false;
      // Re-measure the long-term latency soon: it came from a few small rounds, or (on a resumed ramp) the
      // downstream changed, and a fall in its latency looks just like a rise in its capacity.
      this.#learning = false;
      this.probe.schedule(now, this.current, true, this.#longRtt);
      // The queue a doubling just built is fresh and the gradient measures it well: go to the target at once
      // (unsmoothed), which undoes the overshoot in one round.
      return this.move(limit * gradient + queueSize, 'gradient', signals);
    } else if (this.probe.due(now, this.current)) {
      this.round.cohort(now);
      return this.set(this.probe.start(limit, rtt), 'probe', signals);
    } else if (!this.#atNoLoad(near, rtt, noise)) {
      this.#endClearRun();
    } else if (++this.#clear >= RESUME_ROUNDS) {
      // Latency has held at its no-load level at a full limit, round after round: the capacity grew past the
      // limit. Ramp up again rather than creep by the queue allowance.
      this.#endClearRun();
      this.slowStarting = true;
      return this.move(limit * 2, 'slow-start', signals);
    }

    // A gradient clamped at 1 turns noise into a pull downward: a round slower than the mean by chance cuts
    // the limit, one faster by chance cannot raise it past the allowance. Once rounds in a row show latency
    // at its no-load level (within their noise), a gradient below 1 is that noise: grow by the allowance.
    const target = this.#clear >= QUIET_ROUNDS ? limit + queueSize : limit * gradient + queueSize;
    if (target > limit && !near) return this.current;
    return this.move(limit + this.#smoothing * (target - limit), 'gradient', signals);
  }

  /** Ends a run of rounds at the no-load level. */
  #endClearRun(): void {
    this.#clear = 0;
    this.#clearExcess = 0;
  }

  /**
   * True when this round extends a run of rounds at a full limit with latency at its no-load level. A
   * round's latency is as often above its mean as below, so "at the no-load level" cannot mean below it
   * (a clean downstream would pass every other round, rarely the rounds in a row that prove the capacity
   * grew), nor within the noise of it round by round (a queue of 2%, within a noise of 2%, would pass). The
   * run's mean excess of latency must stay within the noise of a mean of that many rounds.
   */
  #atNoLoad(near: boolean, rtt: number, noise: number): boolean {
    if (!near) return false;
    const excess = this.#clearExcess + Math.log(rtt / this.#longRtt);
    const rounds = this.#clear + 1;
    if (excess / rounds > noise / Math.sqrt(rounds)) return false;
    this.#clearExcess = excess;
    return true;
  }

  protected onDrop(now: number): void {
    this.slowStarting = false;
    this.#suspect = false;
    this.#endClearRun();
    if (this.#learning) {
      this.#learning = false;
      this.probe.schedule(now, this.current, true, this.rttNoLoad);
    }
  }
}

function queueSizeOption(value: unknown): (limit: number) => number {
  if (value === undefined) return (limit) => Math.max(2, Math.sqrt(limit) / 2);
  if (typeof value === 'function') return value as (limit: number) => number;
  if (typeof value === 'number') {
    const size = finite('gradient2.queueSize', value, 0);
    return () => size;
  }
  throw new ConfigError('gradient2.queueSize', value, 'a number >= 0 or a function (limit) => number');
}

/** A gradient limit; see {@link Gradient2Limit}. */
export function gradient2(options?: Gradient2Options): Gradient2Limit {
  return new Gradient2Limit(options);
}
