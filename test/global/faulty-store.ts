import type { BucketSpec, GlobalStore, LeaseGrant, TakeResult } from '../../src/global/store.ts';

/**
 * A global store whose path can fail like a network: `fail()` rejects every operation (a refused
 * connection), `stall()` holds them unanswered (a hung server) and `restore()` runs what was held, in
 * order, as a stalled connection delivers its backlog. Wraps a real store; `calls` counts operations sent.
 */
export class FaultyStore implements GlobalStore {
  readonly name = 'faulty';
  readonly inner: GlobalStore;
  calls = 0;
  #mode: 'pass' | 'fail' | 'stall' = 'pass';
  #held: (() => void)[] = [];

  constructor(inner: GlobalStore) {
    this.inner = inner;
  }

  fail(): void {
    this.#mode = 'fail';
  }

  stall(): void {
    this.#mode = 'stall';
  }

  restore(): void {
    this.#mode = 'pass';
    const held = this.#held;
    this.#held = [];
    for (const run of held) run();
  }

  take(key: string, n: number, bucket: BucketSpec): Promise<TakeResult> {
    return this.#op(() => this.inner.take(key, n, bucket));
  }
  acquire(key: string, limit: number, ttlMs: number): Promise<LeaseGrant> {
    return this.#op(() => this.inner.acquire(key, limit, ttlMs));
  }
  renew(key: string, id: string, ttlMs: number): Promise<boolean> {
    return this.#op(() => this.inner.renew(key, id, ttlMs));
  }
  release(key: string, id: string): Promise<boolean> {
    return this.#op(() => this.inner.release(key, id));
  }
  held(key: string): Promise<number> {
    return this.#op(() => this.inner.held(key));
  }
  ping(): Promise<void> {
    return this.#op(() => this.inner.ping());
  }

  #op<T>(run: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.#mode === 'fail') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    if (this.#mode === 'stall') {
      return new Promise<T>((resolve, reject) => this.#held.push(() => run().then(resolve, reject)));
    }
    return run();
  }
}
