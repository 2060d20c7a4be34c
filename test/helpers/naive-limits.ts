import type { Limit, LimitChange, LimitSample } from '../../src/limits/limit.ts';

/**
 * Reference versions of the field's algorithms with their known weaknesses kept, written from their
 * published descriptions. The convergence tests run them as controls: a check that they pass is no check.
 */
abstract class NaiveLimit implements Limit {
  abstract readonly name: string;
  protected estimate: number;
  #listeners: ((change: LimitChange) => void)[] = [];

  constructor(initial: number) {
    this.estimate = initial;
  }

  get current(): number {
    return Math.floor(this.estimate);
  }

  abstract update(sample: LimitSample): number;

  onChange(listener: (change: LimitChange) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  protected move(next: number, rule: string): number {
    const previous = this.current;
    this.estimate = Math.max(1, Math.min(1000, next));
    if (this.current !== previous) {
      for (const l of this.#listeners) l({ previous, limit: this.current, rule, signals: {} });
    }
    return this.current;
  }
}

/**
 * Gradient2 as Netflix describes it: per sample, `gradient = clamp(longRtt / rtt, 0.5, 1)`, the long-term RTT
 * an exponential average of every sample, drops ignored.
 */
export class NaiveGradient2 extends NaiveLimit {
  readonly name = 'naive-gradient2';
  #long = 0;

  constructor(initial = 20) {
    super(initial);
  }

  update(sample: LimitSample): number {
    this.#long = this.#long === 0 ? sample.rtt : this.#long + (sample.rtt - this.#long) / 600;
    if (this.#long / sample.rtt > 2) this.#long *= 0.9;
    if (sample.inflight < this.estimate / 2) return this.current;
    const gradient = Math.max(0.5, Math.min(1, this.#long / sample.rtt));
    const target = this.estimate * gradient + 4;
    return this.move(this.estimate * 0.8 + target * 0.2, 'gradient');
  }
}

/**
 * Vegas as Netflix describes it: per sample; every ~30 limits' worth of samples a "probe" adopts the next
 * sample's RTT as the no-load latency, whatever queue it carries.
 */
export class NaiveVegas extends NaiveLimit {
  readonly name = 'naive-vegas';
  #rttNoLoad = 0;
  #count = 0;

  constructor(initial = 20) {
    super(initial);
  }

  update(sample: LimitSample): number {
    if (++this.#count > 30 * this.estimate) {
      this.#count = 0;
      this.#rttNoLoad = sample.rtt;
      return this.current;
    }
    if (this.#rttNoLoad === 0 || sample.rtt < this.#rttNoLoad) {
      this.#rttNoLoad = sample.rtt;
      return this.current;
    }
    const log = Math.max(1, Math.log10(this.estimate));
    if (sample.dropped) return this.move(this.estimate - log, 'drop');
    if (sample.inflight * 2 < this.estimate) return this.current;
    const queue = Math.ceil(this.estimate * (1 - this.#rttNoLoad / sample.rtt));
    if (queue <= log) return this.move(this.estimate + 6 * log, 'increase');
    if (queue < 3 * log) return this.move(this.estimate + log, 'increase');
    if (queue > 6 * log) return this.move(this.estimate - log, 'decrease');
    return this.current;
  }
}
