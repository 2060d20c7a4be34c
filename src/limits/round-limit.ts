import { Elasticity } from './elasticity.ts';
import { BaseLimit, type LimitSample } from './limit.ts';
import { NOISE_MARGIN, type Prober } from './probe.ts';
import { Round, usable } from './shared.ts';

/**
 * What the delay-based limits (`gradient2`, `vegas`) share: one decision per round trip from a `Round`,
 * probes of the no-load latency by a `Prober`, a drop handled once per round trip from the level in force,
 * and an estimate kept unrounded between moves (the limit is its floor).
 *
 * A subclass owns its options (validated in its own order), its no-load latency (`baseline`) and its
 * decision on each finished round (`decide`). It assigns `probe`, `backoff` and `slowStarting` in its
 * constructor and sets `estimate` to the starting limit.
 */
export abstract class RoundLimit extends BaseLimit {
  protected readonly round = new Round();
  protected abstract readonly probe: Prober;
  /** Factor applied to the limit on a drop. */
  protected abstract readonly backoff: number;
  protected estimate = 0;
  protected slowStarting = true;
  readonly #elasticity = new Elasticity();
  /** The no-load latency when the episode of elevated latency under way began. */
  #episodeBase = 0;

  /** The no-load latency (ms) the limit measures queueing against; 0 until the first round. */
  abstract get rttNoLoad(): number;

  /** True until the first sign of queueing or drop. */
  get slowStart(): boolean {
    return this.slowStarting;
  }

  /** True while a probe holds the limit lowered. */
  get probing(): boolean {
    return this.probe.active;
  }

  update(sample: LimitSample): number {
    if (!usable(sample)) return this.current;
    if (sample.dropped) return this.#drop(sample);
    const round = this.round;
    round.add(sample);
    if (!round.ready(sample.now)) return this.current;
    const rtt = round.rtt;
    const inflight = round.inflight;
    const count = round.count;
    const now = sample.now;
    round.restart(now);
    if (this.probe.active) return this.#endProbe(now, rtt);
    this.probe.observe(rtt, inflight);
    return this.decide(now, rtt, inflight, count);
  }

  /** Decides on a finished round that was not a probe's: `rtt` its mean latency over `count` requests. */
  protected abstract decide(now: number, rtt: number, inflight: number, count: number): number;

  /** The no-load latency as the subclass keeps it (unset as NaN or Infinity), which a probe's verdict replaces. */
  protected abstract get baseline(): number;
  protected abstract set baseline(value: number);

  /** Extra signals the subclass reports with a probe's verdict. */
  protected probeSignals(): Readonly<Record<string, number>> {
    return {};
  }

  /** State the subclass resets on a drop counted once per round trip (slow start, pending probes). */
  protected abstract onDrop(now: number): void;

  protected move(estimate: number, rule: string, signals: Readonly<Record<string, number>>): number {
    this.estimate = Math.min(this.max, Math.max(this.min, estimate));
    return this.set(Math.floor(this.estimate), rule, signals);
  }

  /**
   * Follows episodes of elevated latency: above its no-load level beyond the noise, by more than the queue
   * the limit allows itself at equilibrium (`allowance`) — a queue the limit would cut, or a slower
   * downstream. True when this round's episode shows the latter (see `Elasticity`): then `rebaseline`. An
   * episode is judged against the no-load latency at its start (probes meanwhile may follow the very change
   * it tests, step by step, and end it before its rounds span twofold); rounds from before it describe
   * another downstream.
   */
  protected slowerDownstream(rtt: number, inflight: number, allowance: number): boolean {
    const base = this.#elasticity.rounds > 0 ? this.#episodeBase : this.baseline;
    const elevated =
      Math.log(rtt / base) > NOISE_MARGIN * this.probe.noise && inflight * (1 - base / rtt) > allowance;
    if (!elevated) {
      this.#elasticity.clear();
      return false;
    }
    if (this.#elasticity.rounds === 0) this.#episodeBase = this.baseline;
    // A round whose latency jumped beyond what its change of concurrency explains (the downstream just
    // changed, and the round mixes requests from before and after) says nothing about how latency answers
    // concurrency: it is left out.
    if (!this.probe.transient) this.#elasticity.add(inflight, rtt);
    return !this.slowStarting && this.#elasticity.flat();
  }

  /**
   * Latency held while concurrency fell twofold or more: the downstream is slower, not queued. That latency
   * (`rtt`) is its no-load latency now, and the cuts of the episode were mistakes: undone, to at most twice
   * the limit.
   */
  protected rebaseline(rtt: number, inflight: number): number {
    const before = this.baseline;
    const peak = this.#elasticity.peak;
    const limit = this.estimate;
    this.baseline = rtt;
    this.#elasticity.clear();
    const signals = { rtt, rttNoLoad: rtt, previousRttNoLoad: before, inflight, peak };
    return this.move(Math.max(limit, Math.min(peak, 2 * limit)), 'rebaseline', signals);
  }

  #endProbe(now: number, rtt: number): number {
    const before = this.baseline;
    const reference = this.probe.reference;
    const saved = this.probe.saved;
    const result = this.probe.finish(now, rtt, before);
    this.baseline = result.baseline;
    // A clean probe measured the no-load latency itself: an episode judged against the old one is over.
    if (result.verdict === 'clean') this.#elasticity.clear();
    const signals = {
      rtt,
      reference,
      rttNoLoad: result.baseline,
      previousRttNoLoad: before,
      ...this.probeSignals(),
    };
    return this.move(result.queued ? Math.min(saved, this.current) : saved, 'probe', signals);
  }

  #drop(sample: LimitSample): number {
    if (!this.round.freshDrop(sample)) return this.current;
    if (this.probe.active) this.probe.abort();
    this.onDrop(sample.now);
    this.round.restart(sample.now, true);
    // From the level in force: during a probe that is the lowered limit, so a drop never raises the limit.
    const base = Math.min(this.estimate, this.current);
    const signals = { rtt: sample.rtt, inflight: sample.inflight, rttNoLoad: this.rttNoLoad };
    const limit = this.move(base * this.backoff, 'drop', signals);
    this.probe.anchor(limit);
    return limit;
  }
}
