import type { Limit, LimitChange, LimitSample } from './limit.ts';

/**
 * A limit held under a ceiling that the subclass moves: the inner algorithm keeps learning underneath,
 * untouched, and `current` is `min(inner, cap)`, published whenever either moves. How the ceiling moves
 * is the subclass's own (a server's process pressure, a downstream's published pressure).
 */
export abstract class CappedLimit implements Limit {
  abstract readonly name: string;
  readonly #inner: Limit;
  #listeners: ((change: LimitChange) => void)[] = [];
  #cap = Number.POSITIVE_INFINITY;
  #current: number;

  constructor(inner: Limit) {
    this.#inner = inner;
    this.#current = inner.current;
  }

  get current(): number {
    return this.#current;
  }

  /** The ceiling in force; `Infinity` when it does not bind. */
  get cap(): number {
    return this.#cap;
  }

  update(sample: LimitSample): number {
    this.#inner.update(sample);
    return this.#current;
  }

  onChange(listener: (change: LimitChange) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  protected get inner(): Limit {
    return this.#inner;
  }

  /** Sets the ceiling; `Infinity` lifts it. Takes effect at the next `publish`. */
  protected setCap(cap: number): void {
    this.#cap = cap;
  }

  /** Makes `current` `min(inner, cap)` and tells the listeners when that moved. */
  protected publish(rule: string, signals: Readonly<Record<string, number>>): void {
    const next = Math.min(this.#inner.current, this.#cap);
    const previous = this.#current;
    if (next === previous) return;
    this.#current = next;
    const change: LimitChange = { previous, limit: next, rule, signals };
    for (const l of this.#listeners) l(change);
  }
}
