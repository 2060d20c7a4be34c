/**
 * Time, injected. Every sluice component that measures or waits takes a `Clock`, so that production runs on
 * the monotonic clock while tests and the simulator run the very same code on virtual time.
 */

/** A scheduled callback; `cancel()` is idempotent and safe after the callback has run. */
export interface Timer {
  cancel(): void;
}

export interface TimerOptions {
  /**
   * Whether the timer keeps the process alive (like a plain `setTimeout`). Internal housekeeping timers
   * (queue expiry, window rollover) pass `false`. Default `true`.
   */
  readonly ref?: boolean;
}

export interface Clock {
  /** Milliseconds on a monotonic scale with sub-millisecond precision; only differences are meaningful. */
  now(): number;
  /** Runs `callback` once after `delayMs` (clamped to >= 0). */
  setTimer(callback: () => void, delayMs: number, options?: TimerOptions): Timer;
}

class RealTimer implements Timer {
  readonly #handle: NodeJS.Timeout;
  constructor(handle: NodeJS.Timeout) {
    this.#handle = handle;
  }
  cancel(): void {
    clearTimeout(this.#handle);
  }
}

/** The process's monotonic clock (`performance.now()`) and Node's timers. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimer(callback: () => void, delayMs: number, options?: TimerOptions): Timer {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    if (options?.ref === false) handle.unref();
    return new RealTimer(handle);
  },
});

/**
 * Resolves after `ms` on `clock`; rejects with the signal's reason if `signal` aborts first.
 * The timer is cancelled and the abort listener removed in every outcome.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
