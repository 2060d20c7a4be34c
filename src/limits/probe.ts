import { finite, or } from '../core/validate.ts';
import { positiveOrInfinity } from './shared.ts';

/**
 * How the latency-based limits re-measure their no-load latency.
 *
 * The baseline must not creep up under load: a baseline that absorbs latency measured at full concurrency
 * (Netflix's long-term average in Gradient2, or Vegas's probe that adopts the next sample as `rtt_noload`)
 * follows a standing queue upward, hides it, and lets the limit drift up with it. Yet it must follow a
 * lasting change in the downstream's own latency. The question "is this latency ours?" has one honest
 * answer: lower our concurrency and see whether latency falls.
 *
 * So a probe lowers the limit by `probeDepth` (20%) for one round, about five round trips, and compares the
 * latency of the requests it admitted with the round before it. While both levels keep a queue at the downstream, latency is
 * proportional to concurrency (Little's law), so it falls by the full depth:
 *
 * - Latency fell by (nearly) the full depth: the lowered level still queued. Its latency may only lower the
 *   baseline, the limit stays lowered (a level that queues even 20% lower is never right), and the next
 *   round probes again, stepping down until a level runs clean.
 * - Otherwise the lowered level ran without a queue (latency fell less, not at all, or rose): its latency is
 *   the downstream's no-load latency now, and the baseline moves to it, up or down. Close to the baseline it
 *   is averaged in (a probe's mean carries a few percent of noise); far from it, or the first time, adopted.
 *
 * Mistaking a queued probe for a clean one (noise) sets the baseline above the no-load latency; the limit
 * then settles 20% below the probed level, so the error shrinks toward a clean probe and never ratchets up.
 *
 * A probe never drops the limit drastically (Envoy pins concurrency to a handful of requests while it
 * measures minRTT, shedding healthy traffic): it costs `probeDepth` of capacity for about five round trips
 * every `probeInterval`, about 0.2% with the defaults, and nothing when traffic is quiet (the lowered limit
 * then does not bind). While the baseline is still moving the next probe comes after 20 round trips rather
 * than a whole interval; a probe also comes early when the limit has fallen to half its level since the last
 * one without drops, since a collapse without drops is what a stale, too-low baseline looks like.
 */
export interface ProbeOptions {
  /** Time between probes of the no-load latency (ms). `Infinity` disables probing. Default 10000. */
  readonly probeInterval?: number;
  /** Fraction by which a probe lowers the limit, in [0.05, 0.5]. Default 0.2. */
  readonly probeDepth?: number;
}

export interface ProbeResult {
  /** The no-load latency after the probe (ms). */
  readonly baseline: number;
  /** True when the lowered level still queued, so the limit should stay lowered. */
  readonly queued: boolean;
}

/** Schedules probes and judges their outcome; the algorithm owns the baseline and the limit. */
export class Prober {
  /** Time between probes (ms). */
  readonly interval: number;
  /** Fraction by which a probe lowers the limit. */
  readonly depth: number;
  #active = false;
  #nextAt = Number.POSITIVE_INFINITY;
  #anchor = 0;
  #saved = 0;
  #reference = 0;
  #provisional = true;

  constructor(prefix: string, options: ProbeOptions) {
    this.interval = positiveOrInfinity(`${prefix}.probeInterval`, or(options.probeInterval, 10_000));
    this.depth = finite(`${prefix}.probeDepth`, or(options.probeDepth, 0.2), 0.05, 0.5);
  }

  /** True between `start` and `finish`. */
  get active(): boolean {
    return this.#active;
  }

  /** The limit (unrounded estimate) in force before the probe lowered it. */
  get saved(): number {
    return this.#saved;
  }

  /** Latency of the round before the probe (ms). */
  get reference(): number {
    return this.#reference;
  }

  /**
   * Plans the next probe after `now`: in `interval`, or in 20 round trips of `rtt` when `soon`. `limit` is
   * the level a fall to half of which calls a probe early.
   */
  schedule(now: number, limit: number, soon = false, rtt = 0): void {
    this.#nextAt = now + (soon ? Math.min(this.interval, 20 * rtt) : this.interval);
    this.#anchor = limit;
  }

  /** Resets the level against which an early probe is judged (after a drop, which explains a fall). */
  anchor(limit: number): void {
    this.#anchor = limit;
  }

  /** True when a probe should start now, at a decision point with the limit at `limit`. */
  due(now: number, limit: number): boolean {
    // At a limit of one there is no lower level to compare with: a probe would change nothing, yet it would
    // take the round and reset the growth of the estimate, pinning the limit at one.
    if (this.#active || this.interval === Number.POSITIVE_INFINITY || limit < 2) return false;
    return now >= this.#nextAt || limit * 2 <= this.#anchor;
  }

  /**
   * Starts a probe from the limit estimate `limit`, after a round whose mean latency was `reference`;
   * returns the lowered (integer) limit, at least one below the current one.
   */
  start(limit: number, reference: number): number {
    this.#active = true;
    this.#saved = limit;
    this.#reference = reference;
    return Math.max(1, Math.min(Math.floor(limit) - 1, Math.floor(limit * (1 - this.depth))));
  }

  /**
   * Ends the probe with its round's mean latency `rtt`, given the current `baseline`; plans the next probe
   * (soon, while the baseline is still moving or the limit still queues).
   *
   * - Latency fell by 3/4 of the depth or more: both levels queued. `rtt` may only lower the baseline, and
   *   the limit should stay lowered: a level that queues even 20% lower is never the right one.
   * - Otherwise the lowered level ran without a queue and `rtt` is the no-load latency. The first such probe
   *   replaces the estimate learnt in slow start (from small rounds), as does one far from the baseline (a
   *   lasting change); one close to it is averaged in with half weight, since a probe's mean carries a few
   *   percent of noise and the limit's equilibrium moves with the baseline.
   */
  finish(now: number, rtt: number, baseline: number): ProbeResult {
    this.#active = false;
    const queued = rtt <= this.#reference * (1 - (this.depth * 3) / 4);
    let next = baseline;
    if (queued) {
      next = Math.min(baseline, rtt);
    } else {
      next = this.#provisional || this.moved(baseline, rtt) ? rtt : baseline + (rtt - baseline) / 2;
      this.#provisional = false;
    }
    // Queued: probe again from the lowered level at the next round, stepping down until a level runs clean.
    if (queued) this.#nextAt = now;
    else this.schedule(now, this.#saved, this.moved(baseline, next), next);
    return { baseline: next, queued };
  }

  /** Abandons a probe (a drop arrived); returns the limit it had lowered. */
  abort(): number {
    this.#active = false;
    return this.#saved;
  }

  /** True when a latency moved from `before` to `after` by more than probe noise (a quarter of the depth). */
  moved(before: number, after: number): boolean {
    return Math.abs(after - before) > (before * this.depth) / 4;
  }
}
