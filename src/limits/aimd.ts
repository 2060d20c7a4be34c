import { fraction, or, positive } from '../core/validate.ts';
import { BaseLimit, type LimitSample } from './limit.ts';
import {
  type AdaptiveBounds,
  adaptiveDefaults,
  booleanOption,
  NEAR_LIMIT,
  positiveOrInfinity,
  Round,
  usable,
} from './shared.ts';

export interface AimdOptions extends AdaptiveBounds {
  /** Factor applied to the limit on a drop, in (0, 1). Default 0.9. */
  readonly backoff?: number;
  /** Added to the limit once per round trip while requests fill it and none drop, > 0. Default 1. */
  readonly increase?: number;
  /**
   * A request slower than this (ms) counts as a drop, so that queueing shows before the caller's own timeout.
   * Set it a little above the downstream's normal latency. Default `Infinity` (only reported drops count).
   */
  readonly timeout?: number;
  /**
   * Starts by doubling the limit every round trip, until the first drop or until latency doubles from its
   * lowest. Default true.
   */
  readonly slowStart?: boolean;
}

/**
 * Additive increase, multiplicative decrease: the loss-based algorithm of TCP Reno. It learns only from drops
 * (and from `timeout`), so it suits downstreams that say when they are overloaded (429, 503, timeouts).
 *
 * - Each round trip in which the requests filled at least 3/4 of the limit and none dropped adds `increase`.
 *   (Netflix adds 1 per sample, which grows a limit of 100 by 100 per round trip.)
 * - A drop multiplies the limit by `backoff`, once per round trip: drops from requests admitted before the
 *   last decrease are ignored, since that decrease already answered them.
 */
export class AimdLimit extends BaseLimit {
  readonly name = 'aimd';
  readonly #backoff: number;
  readonly #increase: number;
  readonly #timeout: number;
  readonly #round = new Round();
  #estimate: number;
  #slowStart: boolean;
  #lowest = Number.POSITIVE_INFINITY;

  constructor(options: AimdOptions = {}) {
    super('aimd', options, adaptiveDefaults);
    this.#backoff = fraction('aimd.backoff', or(options.backoff, 0.9), { open: true });
    this.#increase = positive('aimd.increase', or(options.increase, 1));
    this.#timeout = positiveOrInfinity('aimd.timeout', or(options.timeout, Number.POSITIVE_INFINITY));
    this.#slowStart = booleanOption('aimd.slowStart', options.slowStart, true);
    this.#estimate = this.current;
  }

  /** True until the first drop or sign of queueing. */
  get slowStart(): boolean {
    return this.#slowStart;
  }

  update(sample: LimitSample): number {
    if (!usable(sample)) return this.current;
    if (sample.dropped || sample.rtt > this.#timeout) return this.#drop(sample);
    const round = this.#round;
    round.add(sample);
    if (!round.ready(sample.now)) return this.current;
    const rtt = round.rtt;
    const inflight = round.inflight;
    round.restart(sample.now);
    if (rtt < this.#lowest) this.#lowest = rtt;
    const signals = { rtt, inflight, lowestRtt: this.#lowest };
    if (inflight < NEAR_LIMIT * this.current) return this.current;
    if (this.#slowStart) {
      // Latency twice its lowest means a queue as long as the work itself: the cold ramp is over.
      if (rtt <= 2 * this.#lowest) return this.#move(this.#estimate * 2, 'slow-start', signals);
      this.#slowStart = false;
    }
    return this.#move(this.#estimate + this.#increase, 'increase', signals);
  }

  #drop(sample: LimitSample): number {
    if (!this.#round.freshDrop(sample)) return this.current;
    this.#slowStart = false;
    this.#round.restart(sample.now, true);
    return this.#move(this.#estimate * this.#backoff, 'drop', { rtt: sample.rtt, inflight: sample.inflight });
  }

  #move(estimate: number, rule: string, signals: Readonly<Record<string, number>>): number {
    this.#estimate = Math.min(this.max, Math.max(this.min, estimate));
    return this.set(Math.floor(this.#estimate), rule, signals);
  }
}

/** An AIMD limit; see {@link AimdLimit}. */
export function aimd(options?: AimdOptions): AimdLimit {
  return new AimdLimit(options);
}
