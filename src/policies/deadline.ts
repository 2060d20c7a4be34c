import type { Clock, Timer } from '../core/clock.ts';

/**
 * Deadlines are absolute times on the policy's clock (ms), so they compose by taking the earlier one and
 * survive being passed down through any number of layers; a timeout is only a way to make one.
 */

/** Time left before `deadline` on `clock` (ms): never negative, `Infinity` without a deadline. */
export function remaining(clock: Clock, deadline: number | undefined): number {
  if (deadline === undefined) return Number.POSITIVE_INFINITY;
  const left = deadline - clock.now();
  return Math.max(left, 0);
}

/** The earlier of two deadlines; `undefined` stands for "none". */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

/** A signal that a scope owns, and must `dispose()` when the work it guards has settled. */
export interface LinkedSignal {
  /** Aborts when the caller's signal aborts (with its reason) or when the deadline passes. */
  readonly signal: AbortSignal;
  /** Cancels the deadline timer and detaches from the caller's signal. Idempotent. */
  dispose(): void;
}

class DeadlineLink implements LinkedSignal {
  readonly #controller = new AbortController();
  readonly #parent: AbortSignal | undefined;
  #timer: Timer | undefined = undefined;

  constructor(
    clock: Clock,
    parent: AbortSignal | undefined,
    deadline: number | undefined,
    reason: () => unknown,
  ) {
    this.#parent = parent;
    if (parent !== undefined) {
      if (parent.aborted) {
        this.#controller.abort(parent.reason);
        return;
      }
      parent.addEventListener('abort', this, { once: true });
    }
    if (deadline !== undefined) {
      this.#timer = clock.setTimer(() => {
        this.#timer = undefined;
        this.#parent?.removeEventListener('abort', this);
        this.#controller.abort(reason());
      }, deadline - clock.now());
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The parent's abort: `this` is the listener object, so no closure is allocated per link. */
  handleEvent(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#controller.abort(this.#parent?.reason);
  }

  dispose(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#parent?.removeEventListener('abort', this);
  }
}

/**
 * A signal that aborts when `signal` aborts or when `deadline` passes on `clock`, whichever comes first;
 * `reason()` makes the abort reason for the deadline (a `TimeoutError`, say) when it fires. Unlike
 * `AbortSignal.any` with `AbortSignal.timeout`, it runs on the injected clock and holds nothing once
 * disposed: no timer, no listener on the caller's signal. A `signal` already aborted gives an aborted result.
 */
export function linkSignal(
  clock: Clock,
  signal: AbortSignal | undefined,
  deadline: number | undefined,
  reason: () => unknown,
): LinkedSignal {
  return new DeadlineLink(clock, signal, deadline, reason);
}
