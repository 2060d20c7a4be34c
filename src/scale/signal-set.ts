import type { Readings, Signal } from './types.ts';

/** One signal's analyser: the controller feeds it readings and reads the analysed signal back. */
export interface SignalTracker {
  /** Takes a reading of `value` made at `at` (ms on the controller's clock). */
  update(value: number, at: number): void;
  /** The signal as of `now`, with its `age`; `undefined` before the first reading. */
  signal(now: number): Signal | undefined;
}

/** A signal older than the stale limit. */
export interface StaleSignal {
  readonly name: string;
  readonly age: number;
}

/**
 * The controller's signals: names each (collector, reading) pair once, keeps one tracker per name, and
 * reads them all back per tick.
 *
 * A reading is named after itself (`"backlog"`) unless another collector already owns that name or
 * reports it on the same tick, in which case it is `"<collector>.<reading>"`. Names never change once
 * given, so a policy's signal does not vanish when a second collector starts reporting the same reading.
 * A collector that fails keeps its signals; their `age` grows.
 */
export class SignalSet {
  readonly #factory: (name: string) => SignalTracker;
  // `<collector>\0<reading>` → signal name.
  readonly #names = new Map<string, string>();
  readonly #owned = new Set<string>();
  readonly #trackers = new Map<string, SignalTracker>();

  constructor(factory: (name: string) => SignalTracker) {
    this.#factory = factory;
  }

  /**
   * Feeds one tick's readings by collector. Returns, per collector, the readings that were not finite
   * numbers (they are skipped).
   */
  feed(at: number, batch: ReadonlyMap<string, Readings>): { collector: string; message: string }[] {
    const reporters = new Map<string, number>();
    for (const readings of batch.values()) {
      for (const reading of Object.keys(readings)) reporters.set(reading, (reporters.get(reading) ?? 0) + 1);
    }
    const invalid: { collector: string; message: string }[] = [];
    for (const [collector, readings] of batch) {
      for (const [reading, value] of Object.entries(readings)) {
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          invalid.push({
            collector,
            message: `reading "${reading}" is not a finite number: ${String(value)}`,
          });
          continue;
        }
        this.#tracker(collector, reading, (reporters.get(reading) ?? 0) > 1).update(value, at);
      }
    }
    return invalid;
  }

  /** Every signal read so far, as of `now`, and those older than `staleAfter`. */
  read(now: number, staleAfter: number): { signals: Map<string, Signal>; stale: StaleSignal[] } {
    const signals = new Map<string, Signal>();
    const stale: StaleSignal[] = [];
    for (const [name, tracker] of this.#trackers) {
      const s = tracker.signal(now);
      if (s === undefined) continue;
      signals.set(name, s);
      if (s.age > staleAfter) stale.push({ name, age: s.age });
    }
    return { signals, stale };
  }

  #tracker(collector: string, reading: string, shared: boolean): SignalTracker {
    const key = `${collector}\u0000${reading}`;
    let name = this.#names.get(key);
    if (name === undefined) {
      name = shared || this.#owned.has(reading) ? `${collector}.${reading}` : reading;
      this.#names.set(key, name);
      this.#owned.add(name);
    }
    let tracker = this.#trackers.get(name);
    if (tracker === undefined) {
      tracker = this.#factory(name);
      this.#trackers.set(name, tracker);
    }
    return tracker;
  }
}

/** The signal a rule names: `"target:latency"` → `latency`, or the only `<collector>.latency`. */
export function ruleSignal(rule: string, names: Iterable<string>): string | undefined {
  const all = [...names];
  if (all.includes(rule)) return rule;
  const suffix = rule.slice(rule.indexOf(':') + 1);
  if (all.includes(suffix)) return suffix;
  const qualified = all.filter((n) => n.endsWith(`.${suffix}`));
  return qualified.length === 1 ? qualified[0] : undefined;
}
