import type { Clock, Timer, TimerOptions } from './clock.ts';

interface Entry {
  at: number;
  seq: number;
  callback: (() => void) | undefined;
}

class VirtualTimer implements Timer {
  readonly #entry: Entry;
  readonly #clock: VirtualClock;
  constructor(entry: Entry, clock: VirtualClock) {
    this.#entry = entry;
    this.#clock = clock;
  }
  cancel(): void {
    if (this.#entry.callback !== undefined) {
      this.#entry.callback = undefined;
      this.#clock.cancelled();
    }
  }
}

/**
 * A clock that moves only when told to. Timers fire in order of due time, then of creation, and `now()`
 * reads the due time of the timer being run. Used by the tests and by the simulator.
 *
 * ```ts
 * const clock = new VirtualClock();
 * clock.setTimer(() => console.log(clock.now()), 50);
 * clock.advance(100); // prints 50; clock.now() is 100 afterwards
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  #live = 0;
  // Binary min-heap on (at, seq).
  readonly #heap: Entry[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number, _options?: TimerOptions): Timer {
    const delay = Number.isFinite(delayMs) ? Math.max(0, delayMs) : Number.MAX_SAFE_INTEGER;
    const entry: Entry = { at: this.#now + delay, seq: this.#seq++, callback };
    this.#push(entry);
    this.#live++;
    return new VirtualTimer(entry, this);
  }

  /** Timers scheduled and not yet run or cancelled. */
  get pending(): number {
    return this.#live;
  }

  /** Due time of the next live timer, or `undefined` if none. */
  nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way (synchronously). */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  /** Moves time to `t`, running due timers in order. Timers that schedule timers within the span run too. */
  advanceTo(t: number): void {
    if (t < this.#now) throw new RangeError(`VirtualClock: cannot move back from ${this.#now} to ${t}`);
    for (;;) {
      const entry = this.#popDue(t);
      if (entry === undefined) break;
      this.#now = entry.at;
      const cb = entry.callback!;
      entry.callback = undefined;
      this.#live--;
      cb();
    }
    this.#now = t;
  }

  /** Runs the next due timer, advancing to its time. Returns false if no timer is pending. */
  step(): boolean {
    const at = this.nextAt();
    if (at === undefined) return false;
    const entry = this.#popDue(at)!;
    this.#now = entry.at;
    const cb = entry.callback!;
    entry.callback = undefined;
    this.#live--;
    cb();
    return true;
  }

  /**
   * Like `advance`, but lets promise continuations run between timers, so async code driven by the timers
   * (an awaited sleep, a queued acquire) progresses as it would in real time.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flushMicrotasks();
    for (;;) {
      const at = this.nextAt();
      if (at === undefined || at > target) break;
      this.step();
      await flushMicrotasks();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** @internal bookkeeping for `VirtualTimer.cancel`. */
  cancelled(): void {
    this.#live--;
  }

  #popDue(t: number): Entry | undefined {
    this.#dropCancelled();
    const top = this.#heap[0];
    if (top === undefined || top.at > t) return undefined;
    return this.#pop();
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.callback === undefined) this.#pop();
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every queued promise continuation run (a macrotask boundary flushes the microtask queue). */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
