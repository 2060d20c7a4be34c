import type { FlushContext, FlushResult } from '../../src/batch/types.ts';
import type { VirtualClock } from '../../src/core/virtual-clock.ts';

/** One call of the fake sink's flush, as the test sees it afterwards. */
export interface Call<T> {
  readonly items: readonly T[];
  readonly context: FlushContext;
  readonly startedAt: number;
  endedAt: number | undefined;
  /** Order of this call's start and end among all starts and ends of the sink (ties in time broken). */
  readonly startTick: number;
  endTick: number;
  outcome: 'pending' | 'success' | 'failure';
}

export interface FakeSinkOptions<T> {
  /** Latency of a flush of these items (ms). Default 10. */
  readonly latency?: (items: readonly T[], call: number) => number;
  /** An error to fail the flush with, or `undefined` to succeed. Default: always succeed. */
  readonly fail?: (items: readonly T[], call: number) => unknown;
  /** Items to report as failed (by index) on success. */
  readonly poison?: (items: readonly T[]) => ReadonlyMap<number, unknown> | undefined;
}

/** A sink on virtual time: each flush settles after its latency, on the clock's timers. */
export class FakeSink<T> {
  readonly calls: Call<T>[] = [];
  readonly #clock: VirtualClock;
  readonly #options: FakeSinkOptions<T>;
  #inflight = 0;
  #tick = 0;
  maxInflight = 0;

  constructor(clock: VirtualClock, options: FakeSinkOptions<T> = {}) {
    this.#clock = clock;
    this.#options = options;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Committed items, in commit order. */
  get committed(): T[] {
    return this.calls.filter((c) => c.outcome === 'success').flatMap((c) => [...c.items]);
  }

  readonly flush = (items: readonly T[], context: FlushContext): Promise<FlushResult | undefined> => {
    const index = this.calls.length;
    const call: Call<T> = {
      items: [...items],
      context,
      startedAt: this.#clock.now(),
      endedAt: undefined,
      startTick: this.#tick++,
      endTick: Number.POSITIVE_INFINITY,
      outcome: 'pending',
    };
    this.calls.push(call);
    this.#inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.#inflight);
    const latency = this.#options.latency?.(items, index) ?? 10;
    const error = this.#options.fail?.(items, index);
    return new Promise((resolve, reject) => {
      this.#clock.setTimer(() => {
        this.#inflight--;
        call.endedAt = this.#clock.now();
        call.endTick = this.#tick++;
        if (error !== undefined) {
          call.outcome = 'failure';
          reject(error);
        } else {
          call.outcome = 'success';
          const failed = this.#options.poison?.(items);
          resolve(failed === undefined ? undefined : { failed });
        }
      }, latency);
    });
  };
}

/** Observes a promise without awaiting it. */
export function track(promise: Promise<unknown>): {
  state: 'pending' | 'fulfilled' | 'rejected';
  error?: unknown;
} {
  const record: { state: 'pending' | 'fulfilled' | 'rejected'; error?: unknown } = { state: 'pending' };
  promise.then(
    () => {
      record.state = 'fulfilled';
    },
    (error: unknown) => {
      record.state = 'rejected';
      record.error = error;
    },
  );
  return record;
}
