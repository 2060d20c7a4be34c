import { fraction, or } from '../core/validate.ts';
import { type ProbeOptions, Prober } from './probe.ts';
import { RoundLimit } from './round-limit.ts';
import {
  type AdaptiveBounds,
  adaptiveDefaults,
  booleanOption,
  limitFunction,
  log10,
  NEAR_LIMIT,
  SLOW_START_EXIT,
  weight,
} from './shared.ts';

export interface VegasOptions extends AdaptiveBounds, ProbeOptions {
  /** Estimated queue (requests) below which the limit grows by `increase`. Default `2 * log10(limit)`. */
  readonly alpha?: (limit: number) => number;
  /** Estimated queue above which the limit shrinks. Default `4 * log10(limit)`. */
  readonly beta?: (limit: number) => number;
  /**
   * Estimated queue at or below which the limit grows fast, by `beta` (from the second such round in a row).
   * Default `log10(limit)`.
   */
  readonly threshold?: (limit: number) => number;
  /** The limit after a round with a queue between `threshold` and `alpha`. Default `limit + log10(limit)`. */
  readonly increase?: (limit: number) => number;
  /**
   * The limit after a round with a queue above `beta`, unless cutting the excess queue is lower.
   * Default `limit - log10(limit)`.
   */
  readonly decrease?: (limit: number) => number;
  /** Weight of each round's new limit against the previous one, in (0, 1]. Default 1 (no smoothing). */
  readonly smoothing?: number;
  /** Factor applied to the limit on a drop, in (0, 1). Default 0.9. */
  readonly backoff?: number;
  /**
   * Starts by doubling the limit every round trip, until the estimated queue exceeds `alpha` and an eighth of
   * the limit for two rounds in a row, or a request drops. Default true.
   */
  readonly slowStart?: boolean;
}

/**
 * TCP Vegas applied to concurrency: the queue our requests build is `limit * (1 - rttNoLoad / rtt)` (by
 * Little's law, the share of the round trip spent waiting, times the requests in flight); the limit grows
 * while that queue is small and shrinks when it is large, holding it between `alpha` and `beta` requests.
 * The log10 thresholds keep the queue a small share of a large limit. At equilibrium the limit is the
 * downstream's capacity plus that queue: about 5% above it at 100, 10% at 50.
 *
 * - `rttNoLoad` is the lowest round latency seen in slow start; afterwards a round more than a quarter of
 *   `probeDepth` (5%) faster lowers it at once, and probes (see {@link ProbeOptions}) refine it up or down.
 *   Netflix's probe adopts the next sample as `rtt_noload`, queue and all, and its limit ratchets up.
 * - Rounds are compared by their mean latency, so per-request noise biases a minimum low. When latency
 *   varies by more than a few percent between requests, wrap the limit in `windowed` with a percentile.
 * - A queue far above `beta` is cut in one round to `beta` (Netflix steps down by log10 only, which takes
 *   dozens of rounds after the capacity halves). A drop multiplies the limit by `backoff`.
 * - The fast increase (by `beta`, when the queue is at most `threshold`) needs two such rounds in a row: one
 *   may be noise, and a jump of `beta` on noise overshoots.
 * - A slower downstream is told from a queue by how latency answered the cuts (see
 *   `RoundLimit.slowerDownstream`), with `alpha` as the allowance: Netflix's, and this one before, cut a
 *   service that merely slowed threefold to a sixth of its slots.
 */
export class VegasLimit extends RoundLimit {
  readonly name = 'vegas';
  readonly #alpha: (limit: number) => number;
  readonly #beta: (limit: number) => number;
  readonly #threshold: (limit: number) => number;
  readonly #increase: (limit: number) => number;
  readonly #decrease: (limit: number) => number;
  readonly #smoothing: number;
  protected readonly backoff: number;
  protected readonly probe: Prober;
  #rttNoLoad = Number.POSITIVE_INFINITY;
  #quiet = false;
  #suspect = false;

  constructor(options: VegasOptions = {}) {
    super('vegas', options, adaptiveDefaults);
    this.#alpha = limitFunction('vegas.alpha', options.alpha, (l) => 2 * log10(l));
    this.#beta = limitFunction('vegas.beta', options.beta, (l) => 4 * log10(l));
    this.#threshold = limitFunction('vegas.threshold', options.threshold, log10);
    this.#increase = limitFunction('vegas.increase', options.increase, (l) => l + log10(l));
    this.#decrease = limitFunction('vegas.decrease', options.decrease, (l) => l - log10(l));
    this.#smoothing = weight('vegas.smoothing', or(options.smoothing, 1));
    this.backoff = fraction('vegas.backoff', or(options.backoff, 0.9), { open: true });
    this.slowStarting = booleanOption('vegas.slowStart', options.slowStart, true);
    this.probe = new Prober('vegas', options);
    this.estimate = this.current;
  }

  /** The no-load latency (ms) the queue is measured against; 0 until the first round. */
  get rttNoLoad(): number {
    return Number.isFinite(this.#rttNoLoad) ? this.#rttNoLoad : 0;
  }

  protected get baseline(): number {
    return this.#rttNoLoad;
  }

  protected set baseline(value: number) {
    this.#rttNoLoad = value;
  }

  protected decide(now: number, rtt: number, inflight: number): number {
    // A faster round lowers the baseline at once while slow start learns it; later, only by more than probe
    // noise (a minimum taken over many noisy rounds drifts low, and so would the limit), finer moves being
    // left to probes.
    if (rtt < this.#rttNoLoad && (this.slowStarting || this.probe.moved(this.#rttNoLoad, rtt))) {
      // Outside slow start such a fall is news: the downstream got faster, and this round may still carry
      // some queue. Probe soon for the true level.
      if (!this.slowStarting) this.probe.schedule(now, this.current, true, rtt);
      this.#rttNoLoad = rtt;
    }

    const limit = this.estimate;
    // Above the queue at which the limit stops growing (`alpha`; `beta` is at least 4 requests and would hide a
    // threefold rise of latency at small limits), latency that held while the limit fell is a slower
    // downstream, not a queue (see `RoundLimit.slowerDownstream`).
    if (this.slowerDownstream(rtt, inflight, this.#alpha(limit))) {
      this.#quiet = false;
      return this.rebaseline(rtt, inflight);
    }
    // Our queue is at most what we had in flight: an app-limited round must not be blamed for a full limit.
    const queue = Math.min(limit, inflight) * (1 - this.#rttNoLoad / rtt);
    const signals = { rtt, rttNoLoad: this.#rttNoLoad, queue, inflight };
    const near = inflight >= NEAR_LIMIT * this.current;
    if (this.slowStarting) {
      if (queue <= Math.max(this.#alpha(limit), SLOW_START_EXIT * limit)) {
        this.#suspect = false;
        return near ? this.move(limit * 2, 'slow-start', signals) : this.current;
      }
      // One queueing round at the start may be the noise of a small round: hold, and leave only if the next
      // one queues too.
      if (!this.#suspect) {
        this.#suspect = true;
        return this.current;
      }
      // The baseline so far comes from a few small rounds: re-measure it soon.
      this.slowStarting = false;
      this.probe.schedule(now, this.current, true, this.#rttNoLoad);
    } else if (this.probe.due(now, this.current)) {
      this.round.cohort(now);
      return this.set(this.probe.start(limit, rtt), 'probe', signals);
    }

    const beta = this.#beta(limit);
    let target: number;
    let rule: string;
    const quiet = queue <= this.#threshold(limit);
    // One quiet round may be noise; two in a row mean the queue is gone (capacity grew): grow fast.
    if (quiet && this.#quiet) {
      target = limit + beta;
      rule = 'increase';
    } else if (quiet || queue < this.#alpha(limit)) {
      target = this.#increase(limit);
      rule = 'increase';
    } else if (queue > beta) {
      target = Math.min(this.#decrease(limit), limit - (queue - beta));
      rule = 'decrease';
    } else {
      this.#quiet = false;
      return this.current;
    }
    this.#quiet = quiet;
    if (target > limit && !near) return this.current;
    return this.move(limit + this.#smoothing * (target - limit), rule, signals);
  }

  protected onDrop(now: number): void {
    if (this.slowStarting) {
      this.slowStarting = false;
      this.#suspect = false;
      this.probe.schedule(now, this.current, true, this.rttNoLoad);
    }
  }
}

/** A TCP-Vegas-style limit; see {@link VegasLimit}. */
export function vegas(options?: VegasOptions): VegasLimit {
  return new VegasLimit(options);
}
