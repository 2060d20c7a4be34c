import type { SizeRule } from './types.ts';

export interface SizerSettings {
  readonly min: number;
  readonly max: number;
  readonly initial: number;
  readonly targetLatency: number;
  readonly tolerance: number;
  readonly backoff: number;
  readonly increase: number;
  readonly window: number;
}

/** A size decision before the batcher stamps it with its name and time. */
export interface SizeStep {
  readonly previous: number;
  readonly size: number;
  readonly rule: SizeRule;
  readonly signals: Readonly<Record<string, number>>;
}

/** The sink's cost model, `latency = fixed + perItem * items`, fitted over the window. */
export interface CostModel {
  /** Cost of a statement whatever its size (ms): round trips, commit, statement-level triggers. */
  readonly fixed: number;
  /** Cost of each item (ms). */
  readonly perItem: number;
}

/** Weight of the newest flush in the smoothed latency. */
const SMOOTHING = 0.2;
/** Sizes must spread by this coefficient of variation before the fit can tell fixed from per-item cost. */
const SPREAD = 0.1;
/**
 * Weight of each older flush in the fit, relative to the next newer one: the fit follows a sink that
 * changes (a slow spell starting or ending) within a few flushes, yet uses the whole window.
 */
const DECAY = 0.6;

/**
 * Decides the target batch size from the outcomes of flushes: the decider of the batcher, kept apart so that
 * it can be fed samples and tested without timers.
 *
 * It fits `latency = fixed + perItem * items` over the window of recent flushes (least squares weighted
 * toward the newest, once their sizes differ enough), which tells a sink slow per statement from one slow
 * per item:
 *
 * - A full batch (the demand filled the target size) whose per-item cost is within `tolerance` of the last
 *   full batch's grows the size: doubling while below the slow-start threshold, then by `increase`, but not
 *   past the size the model expects to take `targetLatency`. A larger batch spreads the fixed cost over
 *   more items, so per-item cost falls, then holds; when it rises instead (grown past the knee, or the sink
 *   changed), the size holds.
 * - A flush slower than `targetLatency` cuts the size to what the model expects to meet the target (or in
 *   proportion, `size * target / latency`, without a model), by no more than `backoff` at once. When the
 *   fixed cost alone exceeds the target, a smaller batch would be no faster, only carry less: no cut, and
 *   full batches still grow to carry more per statement.
 * - A failed flush multiplies the size by `backoff`. Both cuts make the new size the slow-start threshold,
 *   as TCP does after a loss; a flush under a quarter of the target lifts it again.
 *
 * Each change is judged only by flushes formed after it (`epoch`): flushes under way when the size changed
 * were formed under the old size and must not move it twice.
 */
export class BatchSizer {
  readonly #s: SizerSettings;
  #size: number;
  #threshold: number;
  #epoch = 0;
  readonly #items: Float64Array;
  readonly #latencies: Float64Array;
  #count = 0;
  #next = 0;
  #latency = Number.NaN;
  #perItem = Number.NaN;
  /** Size and per-item cost of the last full batch: what a growth is judged against. */
  #lastFull: { readonly items: number; readonly perItem: number } | undefined;

  constructor(settings: SizerSettings) {
    this.#s = settings;
    this.#size = settings.initial;
    this.#threshold = settings.max;
    this.#items = new Float64Array(settings.window);
    this.#latencies = new Float64Array(settings.window);
  }

  get size(): number {
    return this.#size;
  }

  /** Counts the changes of the size; a flush carries the epoch it was formed in. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Smoothed latency of successful flushes (ms); NaN before the first. */
  get latency(): number {
    return this.#latency;
  }

  /** Per-item cost of the last successful flush (ms); NaN before the first. */
  get perItem(): number {
    return this.#perItem;
  }

  /** Lowest per-item cost in the window (ms); NaN before the first flush. */
  get baseline(): number {
    if (this.#count === 0) return Number.NaN;
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.#count; i++) min = Math.min(min, this.#latencies[i]! / this.#items[i]!);
    return min;
  }

  /**
   * The cost model fitted over the window (weighted least squares, newer flushes weighing more), once the
   * sizes in it spread enough to tell fixed from per-item cost.
   */
  model(): CostModel | undefined {
    const n = this.#count;
    if (n < 3) return undefined;
    const size = this.#items.length;
    let sw = 0;
    let sx = 0;
    let sy = 0;
    let w = 1;
    for (let k = 1; k <= n; k++, w *= DECAY) {
      const i = (this.#next - k + size) % size;
      sw += w;
      sx += w * this.#items[i]!;
      sy += w * this.#latencies[i]!;
    }
    const mx = sx / sw;
    const my = sy / sw;
    let vxx = 0;
    let vxy = 0;
    w = 1;
    for (let k = 1; k <= n; k++, w *= DECAY) {
      const i = (this.#next - k + size) % size;
      const dx = this.#items[i]! - mx;
      vxx += w * dx * dx;
      vxy += w * dx * (this.#latencies[i]! - my);
    }
    if (vxx / sw < (SPREAD * mx) ** 2) return undefined;
    const perItem = Math.max(0, vxy / vxx);
    return { fixed: Math.max(0, my - perItem * mx), perItem };
  }

  /** A flush of `items` committed after `latency` ms; `full` when it held the whole target size. */
  success(items: number, latency: number, full: boolean, epoch: number): SizeStep | undefined {
    const n = Math.max(1, items);
    const perItem = latency / n;
    this.#latency = Number.isNaN(this.#latency)
      ? latency
      : this.#latency + SMOOTHING * (latency - this.#latency);
    this.#perItem = perItem;
    this.#items[this.#next] = n;
    this.#latencies[this.#next] = latency;
    this.#next = (this.#next + 1) % this.#items.length;
    if (this.#count < this.#items.length) this.#count++;
    const previous = this.#lastFull;
    if (full) this.#lastFull = { items: n, perItem };
    if (epoch !== this.#epoch) return undefined;

    const s = this.#s;
    const model = this.model();
    // The size the model expects to take the target latency; Infinity when size does not matter or cannot help.
    const reach =
      model === undefined || model.fixed >= s.targetLatency || model.perItem === 0
        ? Number.POSITIVE_INFINITY
        : Math.floor((s.targetLatency - model.fixed) / model.perItem + 1e-9);
    const signals: Record<string, number> = { items, latency, perItem, target: s.targetLatency };
    if (model !== undefined) {
      signals['fixed'] = model.fixed;
      signals['modelPerItem'] = model.perItem;
    }

    if (latency > s.targetLatency) {
      if (model === undefined || model.fixed < s.targetLatency) {
        const goal = model === undefined ? (this.#size * s.targetLatency) / latency : reach;
        // The model expecting this size to meet the target makes it a passing spike: hold.
        if (goal >= this.#size) return undefined;
        const next = Math.floor(Math.max(this.#size * s.backoff, goal));
        this.#threshold = Math.max(s.min, next);
        return this.#set(next, 'latency', signals);
      }
      // The fixed cost alone exceeds the target: a smaller batch would be no faster, only carry less.
    }
    // A sink this fast again is healthy: slow start may resume after the cuts of a bad spell.
    if (latency < s.targetLatency / 4) this.#threshold = s.max;
    if (!full) return undefined;
    if (previous !== undefined) {
      signals['previousPerItem'] = previous.perItem;
      // Dearer per item than the last full batch: grown past the knee, or the sink changed. Hold, and
      // judge the next batch against this one.
      if (perItem > s.tolerance * previous.perItem) return undefined;
    }
    const slowStart = this.#size < this.#threshold;
    const wanted = slowStart ? Math.min(this.#threshold, this.#size * 2) : this.#size + s.increase;
    const next = Math.min(wanted, Math.max(this.#size, reach));
    if (next <= this.#size) return undefined;
    return this.#set(next, slowStart ? 'slow-start' : 'increase', signals);
  }

  /** A flush formed in `epoch` failed with an error worth retrying. */
  failure(items: number, epoch: number): SizeStep | undefined {
    if (epoch !== this.#epoch) return undefined;
    const next = Math.floor(this.#size * this.#s.backoff);
    this.#threshold = Math.max(this.#s.min, next);
    return this.#set(next, 'failure', { items, backoff: this.#s.backoff });
  }

  /** Sets the size by hand (clamped). */
  set(size: number): SizeStep | undefined {
    return this.#set(size, 'manual', {});
  }

  #set(value: number, rule: SizeRule, signals: Readonly<Record<string, number>>): SizeStep | undefined {
    const next = Math.min(this.#s.max, Math.max(this.#s.min, Math.round(value)));
    const previous = this.#size;
    if (next === previous) return undefined;
    this.#size = next;
    this.#epoch++;
    return { previous, size: next, rule, signals };
  }
}
