import type { Limit, LimitChange, LimitSample } from '../../src/limits/limit.ts';

/** A limit the test sets by hand; it records every sample it is fed. */
export class ManualLimit implements Limit {
  readonly name = 'manual';
  readonly samples: LimitSample[] = [];
  #current: number;
  #listeners: ((change: LimitChange) => void)[] = [];

  constructor(initial: number) {
    this.#current = initial;
  }

  get current(): number {
    return this.#current;
  }

  update(sample: LimitSample): number {
    this.samples.push(sample);
    return this.#current;
  }

  set(limit: number): void {
    const previous = this.#current;
    this.#current = limit;
    for (const l of this.#listeners) l({ previous, limit, rule: 'manual', signals: {} });
  }

  onChange(listener: (change: LimitChange) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }
}

/** Lets pending promise continuations run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Observes a promise without awaiting it: `state()` is pending, fulfilled (with value) or rejected (with reason). */
export function track<T>(promise: Promise<T>): {
  state: () => 'pending' | 'fulfilled' | 'rejected';
  value: () => T;
  error: () => unknown;
} {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  let value: T;
  let error: unknown;
  promise.then(
    (v) => {
      state = 'fulfilled';
      value = v;
    },
    (e) => {
      state = 'rejected';
      error = e;
    },
  );
  return { state: () => state, value: () => value, error: () => error };
}
