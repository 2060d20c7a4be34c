import type { Timer } from '../core/clock.ts';
import { integer } from '../core/validate.ts';
import { flushMicrotasks, VirtualClock } from '../core/virtual-clock.ts';

/**
 * The discrete-event core. Two event lists share one timeline:
 * - the simulation's own events (arrivals, completions, timeouts, samples), in a binary heap here, and
 * - the timers of the real sluice components, which run on a `VirtualClock` (`engine.clock`), the same
 *   clock the tests use.
 * The loop always runs the earlier of the two heads; at equal times the components' timers go first. Before
 * a simulation event runs, the clock is moved to its time, so `clock.now()` is right for the components it
 * calls. Keeping the simulation's events off the clock spares them the clock's per-timer objects and
 * cancellation bookkeeping, which were a quarter of the run time when everything went through it.
 *
 * Promises. Components answer some calls with promises (a limiter's `acquire()` when the caller must
 * wait). Their continuations are microtasks, which run only when JavaScript yields. Yielding to the event
 * loop after each event (`setImmediate`) would cost microseconds per event; instead `run()` is an async
 * loop that runs events synchronously and, only while a followed promise is unsettled, awaits an
 * already-resolved promise after each event. Each such await lets every microtask queued before it run,
 * in queue order, before the loop resumes; it repeats until `settleRounds` rounds in a row deliver
 * nothing (a continuation chain may take more than one round to reach the simulation). While no promise is
 * outstanding, which is the common case of admission under the limit, the loop does not await at all.
 *
 * Determinism. Events are ordered by (time, creation order) within each list, the lists by the rule above,
 * and microtasks by the order they were queued; nothing reads the wall clock or depends on I/O. The loop
 * yields to the event loop (so that an `AbortSignal` or a progress display can act) only at points where
 * the microtask queue has been drained, so a yield never changes what happens. Same inputs, same sequence.
 */
export interface EngineOptions {
  /** Clock start time (ms). Default 0. */
  readonly start?: number;
  /**
   * Microtask rounds in a row that deliver nothing before the next event runs, while a followed promise is
   * unsettled. Each round moves every pending continuation chain one step, and the engine cannot see steps
   * inside a component, only deliveries to the simulation; so this must be at least the number of
   * microtask turns between a component settling its promise internally and the simulation's callback. It
   * is 1 for the limiter and the regulator, which resolve their promises directly; a component whose promise
   * comes out of an `async` function that awaits k further promises needs k + 2. A chain deeper than this
   * still completes, but only after the next event, at that event's time. Default 3.
   */
  readonly settleRounds?: number;
  /** Events between yields to the Node event loop. Default 50,000. */
  readonly yieldEvery?: number;
  /**
   * Whether errors created while the simulation runs capture stack traces. Components reject with errors
   * (a limiter's `RejectedError`), and under overload a run creates millions of them: capturing their stacks
   * (through the async frames of the run loop) was a fifth of the run time. So by default `run()` sets
   * `Error.stackTraceLimit` to 0 while it steps events, and restores it whenever it yields to the event loop
   * and when it ends. Set `true` to keep stacks (to debug a component that throws). Default false.
   */
  readonly errorStacks?: boolean;
}

export interface RunOptions {
  /** Stops the run (it rejects with the signal's reason) when aborted. */
  readonly signal?: AbortSignal;
}

/** A scheduled simulation event; `cancel()` is idempotent and safe after it has run. */
class SimEvent implements Timer {
  readonly at: number;
  readonly seq: number;
  fn: (() => void) | undefined;

  constructor(at: number, seq: number, fn: () => void) {
    this.at = at;
    this.seq = seq;
    this.fn = fn;
  }

  cancel(): void {
    this.fn = undefined;
  }
}

const resolved = Promise.resolve();

export class Engine {
  readonly clock: VirtualClock;
  #settleRounds: number;
  readonly #yieldEvery: number;
  readonly #errorStacks: boolean;
  /** Binary min-heap on (at, seq). */
  readonly #heap: SimEvent[] = [];
  #seq = 0;
  #pending = 0;
  #delivered = 0;
  #events = 0;
  #failed = false;
  #failure: unknown = undefined;

  constructor(options: EngineOptions = {}) {
    this.clock = new VirtualClock(options.start ?? 0);
    this.#settleRounds = integer('settleRounds', options.settleRounds ?? 3, 1, 100);
    this.#yieldEvery = integer('yieldEvery', options.yieldEvery ?? 50_000, 1);
    this.#errorStacks = options.errorStacks ?? false;
  }

  /** Current simulated time (ms). */
  get now(): number {
    return this.clock.now();
  }

  /** Events run so far (the simulation's and the components' timers). */
  get events(): number {
    return this.#events;
  }

  /** Followed promises not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** See `EngineOptions.settleRounds`; may be changed between runs. */
  get settleRounds(): number {
    return this.#settleRounds;
  }

  set settleRounds(rounds: number) {
    this.#settleRounds = integer('settleRounds', rounds, 1, 100);
  }

  /** Runs `fn` at absolute time `time` (or now, if that has passed). */
  at(time: number, fn: () => void): Timer {
    const now = this.clock.now();
    const event = new SimEvent(Math.max(time, now), this.#seq++, fn);
    this.#push(event);
    return event;
  }

  /** Runs `fn` after `delay` ms. */
  after(delay: number, fn: () => void): Timer {
    return this.at(this.clock.now() + delay, fn);
  }

  /**
   * Follows a promise from a component: `onValue` or `onError` runs inside the simulation, at the virtual
   * time the promise settles. An exception thrown by either fails the run.
   */
  track<T>(promise: PromiseLike<T>, onValue: (value: T) => void, onError: (error: unknown) => void): void {
    this.#pending++;
    promise.then(
      (value) => {
        this.#pending--;
        this.#delivered++;
        try {
          onValue(value);
        } catch (error) {
          this.#fail(error);
        }
      },
      (error: unknown) => {
        this.#pending--;
        this.#delivered++;
        try {
          onError(error);
        } catch (e) {
          this.#fail(e);
        }
      },
    );
  }

  /**
   * Runs every event due at or before `until`, then sets the clock to `until`. Resolves when done;
   * rejects with the first exception an event or a followed continuation threw.
   */
  async run(until: number, options: RunOptions = {}): Promise<void> {
    const stacks = Error.stackTraceLimit;
    try {
      if (!this.#errorStacks) Error.stackTraceLimit = 0;
      await this.#run(until, options, stacks);
    } finally {
      Error.stackTraceLimit = stacks;
    }
  }

  async #run(until: number, options: RunOptions, stacks: number): Promise<void> {
    const clock = this.clock;
    const heap = this.#heap;
    const signal = options.signal;
    const rounds = this.#settleRounds;
    let nextYield = this.#events + this.#yieldEvery;
    if (this.#pending > 0) await this.#settle(rounds);
    for (;;) {
      if (this.#failed) throw this.#failure;
      let top = heap[0];
      while (top !== undefined && top.fn === undefined) {
        this.#pop();
        top = heap[0];
      }
      const ts = top === undefined ? Infinity : top.at;
      const tc = clock.nextAt() ?? Infinity;
      if (tc <= ts) {
        if (tc > until) break;
        clock.step();
      } else {
        if (ts > until) break;
        this.#pop();
        if (ts > clock.now()) clock.advanceTo(ts);
        const fn = top!.fn!;
        top!.fn = undefined;
        fn();
      }
      this.#events++;
      if (this.#pending > 0) {
        // Inline settle loop: an extra async call per event would cost a promise of its own.
        let idle = 0;
        while (idle < rounds) {
          const before = this.#delivered;
          await resolved;
          idle = this.#delivered === before ? idle + 1 : 0;
        }
      }
      if (this.#events >= nextYield) {
        nextYield = this.#events + this.#yieldEvery;
        if (!this.#errorStacks) Error.stackTraceLimit = stacks;
        await flushMicrotasks();
        if (!this.#errorStacks) Error.stackTraceLimit = 0;
        if (signal?.aborted) throw signal.reason;
      }
    }
    if (this.#failed) throw this.#failure;
    if (until > clock.now() && until !== Infinity) clock.advanceTo(until);
    if (signal?.aborted) throw signal.reason;
  }

  async #settle(rounds: number): Promise<void> {
    let idle = 0;
    while (idle < rounds) {
      const before = this.#delivered;
      await resolved;
      idle = this.#delivered === before ? idle + 1 : 0;
    }
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failure = error;
  }

  #push(e: SimEvent): void {
    const h = this.#heap;
    let i = h.length;
    h.push(e);
    // Sift up by moving parents down into the hole, then drop `e` in.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (parent.at < e.at || (parent.at === e.at && parent.seq < e.seq)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = e;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let child = h[c]!;
      const r = c + 1;
      if (r < n) {
        const right = h[r]!;
        if (right.at < child.at || (right.at === child.at && right.seq < child.seq)) {
          c = r;
          child = right;
        }
      }
      if (last.at < child.at || (last.at === child.at && last.seq < child.seq)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
  }
}
