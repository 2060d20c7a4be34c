import { isRejectedError } from '../../core/errors.ts';
import { isCircuitOpenError } from './error.ts';

/**
 * How a breaker reads an error thrown by the work it guards:
 * - `true`: a failure of the dependency (counts toward tripping; re-opens a half-open breaker);
 * - `false`: the dependency answered, just not with a value (a 404, a validation error): a healthy call;
 * - `'ignore'`: no evidence either way; the call is not recorded at all.
 *
 * `signal` is the signal the breaker passed to the work (the caller's), so a predicate can tell an abort
 * the caller asked for from one that happened downstream. A predicate that throws leaves the call
 * unrecorded, and its error replaces the work's.
 */
export type FailurePredicate = (error: unknown, signal: AbortSignal | undefined) => boolean | 'ignore';

/**
 * The default: every error is a failure, except two kinds that say nothing about the dependency's health,
 * which are ignored.
 *
 * - A sluice rejection (`RejectedError` from a limiter or a throttle, `CircuitOpenError` from an inner
 *   breaker): the work never reached the dependency. Counting it would let a local decision feed back into
 *   the breaker: a limiter shedding under a burst would trip the breaker, which would then cut the
 *   dependency off although it never failed, and an inner breaker's fast refusals would open this one too.
 * - An abort the caller asked for (its signal has aborted and the error is that abort): the caller gave up,
 *   which is not a verdict on the dependency. Work that hangs is caught instead by a timeout policy inside
 *   the breaker (whose `TimeoutError` counts) and by the slow-call rule.
 *
 * Everything else counts, including programming errors: a breaker that ignored them would keep sending
 * traffic to a code path that throws on every call. Compose to narrow it:
 * `(e, s) => (defaultIsFailure(e, s) === true ? !isClientError(e) : 'ignore')`.
 */
export const defaultIsFailure: FailurePredicate = (error, signal) => {
  if (isRejectedError(error) || isCircuitOpenError(error)) return 'ignore';
  if (signal?.aborted === true && (error === signal.reason || isAbortError(error))) return 'ignore';
  return true;
};

function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}
