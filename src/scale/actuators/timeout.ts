import type { Clock } from '../../core/clock.ts';
import { linkSignal } from '../../policies/deadline.ts';

/**
 * Runs `work` with a signal that aborts when the caller's `signal` aborts (with its reason) or when
 * `timeoutMs` passes on `clock` (with `onTimeout()`), and settles with that reason as soon as either
 * happens, even if `work` ignores its signal. The timer and the listener are released in every outcome.
 */
export async function withTimeout<T>(
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onTimeout: () => unknown,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = Number.isFinite(timeoutMs) ? clock.now() + timeoutMs : undefined;
  const link = linkSignal(clock, signal, deadline, onTimeout);
  try {
    const linked = link.signal;
    if (linked.aborted) throw linked.reason;
    const aborted = new Promise<never>((_, reject) => {
      linked.addEventListener('abort', () => reject(linked.reason), { once: true });
    });
    return await Promise.race([work(linked), aborted]);
  } finally {
    link.dispose();
  }
}
