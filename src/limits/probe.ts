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
 * latency of the requests it admitted with the round before it. While both levels keep a queue at the
 * downstream, latency is proportional to concurrency (Little's law), so it falls by the full depth:
 *
 * - Latency fell by (nearly) the full depth: the lowered level still queued. Its latency may only lower the
 *   baseline, the limit stays lowered (a level that queues even 20% lower is never right), and the next
 *   round probes again, stepping down until a level runs clean.
 * - Latency fell clearly less, or not at all: the lowered level ran without a queue, its latency is the
 *   downstream's no-load latency now, and the baseline moves to it, up or down. Close to the baseline it is
 *   averaged in; far from it, or the first time, adopted. (A rise is not such evidence: a lowered level
 *   over a queue still draining is slower for a round too.)
 *
 * A round's latency carries noise: it depends on the downstream (the spread of its service times) and on
 * how many requests the round holds (the windowed median of ten requests of a lognormal service varies by
 * 15-20% from one window to the next). Differences within the noise are no evidence, and reading them as
 * evidence is costly one way round: a clean level judged queued stays lowered, probes again, and lowers the
 * baseline to a round that was fast by chance, so the limit steps down toward its minimum (it did, to 1 of
 * 3 slots, in the overload benchmark). So the prober measures the noise, as the mean change of latency from
 * one ordinary round to the next that the change in concurrency does not explain, and judges against it:
 *
 * - "Queued" needs a fall beyond the noise as well as near the full depth.
 * - A rise beyond the noise cannot come from lowering the limit: the downstream changed during the probe
 *   (its capacity fell, say), and the probe measured nothing.
 * - When the noise hides which of "queued" and "clean" it was, the probe's latency is averaged in, moving
 *   the baseline by no more than half the noise: a lasting change is still followed, probe after probe,
 *   but no single unlucky round triples or halves the baseline.
 * - A probe waits for a steady round (within the noise of the one before): right after the capacity fell,
 *   a probe's round measures the transient and reads it as the no-load latency.
 *
 * Mistaking a queued probe for a clean one sets the baseline above the no-load latency; the limit then
 * settles 20% below the probed level, so the error shrinks toward a clean probe and never ratchets up.
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
  /**
   * `queued` (both levels queued), `clean` (the lowered level ran without a queue), `unclear` (the noise
   * hid which), or `changed` (latency rose while the limit was lowered: the downstream changed, and the
   * probe measured nothing).
   */
  readonly verdict: 'queued' | 'clean' | 'unclear' | 'changed';
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
  #lowered = 0;
  #reference = 0;
  #provisional = true;
  /** Latency of the last ordinary round (ms); NaN when the next round does not follow one. */
  #last = Number.NaN;
  /** Mean requests in flight of the last ordinary round. */
  #lastInflight = Number.NaN;
  /** Mean absolute log change of latency between consecutive ordinary rounds; NaN until measured. */
  #spread = Number.NaN;
  /** The unexplained change of latency from the ordinary round before the last to the last; 0 if unknown. */
  #change = 0;

  constructor(prefix: string, options: ProbeOptions) {
    this.interval = positiveOrInfinity(`${prefix}.probeInterval`, or(options.probeInterval, 10_000));
    this.depth = finite(`${prefix}.probeDepth`, or(options.probeDepth, 0.2), 0.05, 0.5);
  }

  /**
   * True when the last ordinary round's latency changed from the one before by more than noise and the
   * change in concurrency explain (or a quarter of the depth): the downstream is in a transient.
   */
  get transient(): boolean {
    return this.#change > Math.max(this.depth / 4, NOISE_MARGIN * this.noise);
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
   * The noise of one round's latency, as a fraction: the mean change from one ordinary round to the next
   * (0 until two rounds have been seen). A difference of latency smaller than `NOISE_MARGIN` times this
   * is not evidence of anything.
   */
  get noise(): number {
    return Number.isNaN(this.#spread) ? 0 : this.#spread;
  }

  /**
   * Learns the noise from an ordinary round (not a probe's): its mean latency (ms) and requests in flight.
   * From one round to the next, latency changes by noise and by what the change in concurrency explains:
   * nothing while the downstream has no queue, the same factor while it has one (Little's law). The noise is
   * the part of the change that neither explains, so the algorithm's own steps do not count as noise. A real
   * change (a capacity step) is one large difference, clipped so that it cannot make every probe for the
   * next seconds unclear.
   */
  observe(rtt: number, inflight: number): void {
    const last = this.#last;
    const lastInflight = this.#lastInflight;
    this.#last = rtt;
    this.#lastInflight = inflight;
    if (Number.isNaN(last)) {
      this.#change = 0;
      return;
    }
    const latency = Math.log(rtt / last);
    const change = Math.min(Math.abs(latency), Math.abs(latency - Math.log(inflight / lastInflight)));
    this.#change = change;
    if (Number.isNaN(this.#spread)) {
      this.#spread = change;
      return;
    }
    const clipped = Math.min(change, Math.max(SPREAD_CLIP * this.#spread, this.depth));
    this.#spread += SPREAD_WEIGHT * (clipped - this.#spread);
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
    // A probe compares two levels in a steady state. While latency jumps from one round to the next (the
    // capacity just fell, a queue is building or draining) the probe's round would measure the transient,
    // and read it as the no-load latency: wait for a round within noise of the one before.
    if (this.transient) return false;
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
    // The round after the probe follows a different level: it is no measure of round-to-round noise.
    this.#last = Number.NaN;
    this.#lowered = Math.max(1, Math.min(Math.floor(limit) - 1, Math.floor(limit * (1 - this.depth))));
    return this.#lowered;
  }

  /**
   * Ends the probe with its round's mean latency `rtt`, given the current `baseline`; plans the next probe
   * (soon, while the baseline is still moving or the limit still queues). `fall` is how much latency fell,
   * against 3/4 of the depth the limit was actually lowered by (a limit of 3 lowered to 2 is a third lower,
   * not a fifth), each difference read against the noise margin:
   *
   * - Fell by 3/4 of the depth or more, and by more than the noise: both levels queued. `rtt` may only
   *   lower the baseline, to no less than the noise allows, and the limit should stay lowered: a level that
   *   queues even 20% lower is never the right one.
   * - Rose by more than the noise (or a quarter of the depth): lowering the limit cannot do that, so the
   *   downstream changed during the probe (its capacity fell, say) and the probe measured nothing. The
   *   baseline stays, and the next probe comes soon.
   * - Fell short of 3/4 of the depth by more than the noise, and did not rise: the lowered level ran without
   *   a queue and `rtt` is the no-load latency. (A rise is no evidence of that: a lowered level over a queue
   *   still draining is slower for a round too, and one such round, read as clean, tripled a baseline.) The
   *   first such probe replaces the estimate learnt in slow start (from small rounds) unless rounds are
   *   noisy, as does one far from the baseline (a lasting change); one close to it is averaged in with half
   *   weight, since a probe's mean carries noise and the limit's equilibrium moves with the baseline.
   * - Otherwise the noise hides which: `rtt` is averaged in with half weight, moving the baseline by no more
   *   than half the noise margin (or a quarter of the depth, if larger). Repeated probes still follow a
   *   lasting change, a step at a time, but one unlucky round cannot triple the baseline (a probe right
   *   after the capacity fell, judged clean, once did) nor halve it.
   */
  finish(now: number, rtt: number, baseline: number): ProbeResult {
    this.#active = false;
    const margin = NOISE_MARGIN * this.noise;
    const threshold = QUEUED_FALL * Math.log(Math.max(1, Math.floor(this.#saved)) / this.#lowered);
    const fall = Math.log(this.#reference / rtt);
    if (fall >= Math.max(threshold, margin)) {
      // Probe again from the lowered level at the next round, stepping down until a level runs clean.
      this.#nextAt = now;
      return { baseline: Math.min(baseline, rtt * Math.exp(margin)), queued: true, verdict: 'queued' };
    }
    if (-fall > Math.max(this.depth / 4, margin)) {
      this.schedule(now, this.#saved, true, baseline);
      return { baseline, queued: false, verdict: 'changed' };
    }
    let next: number;
    let verdict: ProbeResult['verdict'];
    if (fall >= 0 && fall <= threshold - margin) {
      verdict = 'clean';
      // The slow-start estimate gives way to a probe only if one round of the probe is the better measure:
      // under noise it is not (one noisy round adopted after an outage set the baseline 20% low).
      const replace = this.#provisional && margin <= this.depth / 4;
      next = replace || this.moved(baseline, rtt) ? rtt : baseline + (rtt - baseline) / 2;
      this.#provisional = false;
    } else {
      verdict = 'unclear';
      const step = Math.exp(Math.max(this.depth / 4, margin / 2));
      next = Math.min(baseline * step, Math.max(baseline / step, baseline + (rtt - baseline) / 2));
    }
    this.schedule(now, this.#saved, this.moved(baseline, next), next);
    return { baseline: next, queued: false, verdict };
  }

  /** Abandons a probe (a drop arrived); returns the limit it had lowered. */
  abort(): number {
    this.#active = false;
    return this.#saved;
  }

  /**
   * True when a latency moved from `before` to `after` by more than probe noise: a quarter of the depth, or
   * the noise margin of a round, whichever is larger.
   */
  moved(before: number, after: number): boolean {
    return Math.abs(after - before) > before * Math.max(this.depth / 4, NOISE_MARGIN * this.noise);
  }
}

/**
 * Differences of latency within this many times the mean round-to-round change are noise. For a normal
 * noise the mean absolute difference of two rounds is 1.13 standard deviations of one, so this is about
 * two standard deviations of the difference between two rounds: noise alone passes it one time in 40.
 */
export const NOISE_MARGIN = 2.5;

/** Weight of each round in the mean round-to-round change: the noise is learnt over about 8 rounds. */
const SPREAD_WEIGHT = 1 / 8;

/** A change beyond this many times the mean (or the probe depth, if larger) counts as this much. */
const SPREAD_CLIP = 3;

/** The fall (in units of depth) a probe must show to have queued at both levels. */
const QUEUED_FALL = 3 / 4;
