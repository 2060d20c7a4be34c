import { RejectedError, type RejectReason } from '../core/errors.ts';
import { checkKeys, join, object } from '../core/spec.ts';
import { finite, oneOf } from '../core/validate.ts';
import type { Priority } from '../limiter/types.ts';
import type { Backoff } from '../policies/backoff/backoff.ts';
import { constantBackoff } from '../policies/backoff/constant.ts';
import { decorrelatedJitterBackoff } from '../policies/backoff/decorrelated-jitter.ts';
import { exponentialBackoff } from '../policies/backoff/exponential.ts';
import { fullJitterBackoff } from '../policies/backoff/full-jitter.ts';
import {
  type BreakerOptions,
  type BreakerState,
  type BreakerTicket,
  CircuitOpenError,
  createBreaker,
} from '../policies/breaker.ts';
import type { CallContext } from '../policies/policy.ts';
import { createRetry, type Retry, type RetryOptions } from '../policies/retry.ts';
import { createRetryBudget, type RetryBudgetOptions } from '../policies/retry-budget.ts';
import { TimeoutError } from '../policies/timeout.ts';
import { construct } from './construct.ts';
import type { AttemptEnd, PolicyContext, PolicyGate, SimPolicy } from './policy.ts';
import type { SimRequest } from './request.ts';

/** The reason a `breaker` stage gives when it refuses an attempt. */
export const CIRCUIT_OPEN = 'circuit-open';

const openLevel: Readonly<Record<BreakerState, number>> = {
  closed: 0,
  'half-open': 0.5,
  open: 1,
  isolated: 1,
};

/**
 * `breaker`: sluice's circuit breaker (`createBreaker`, its options less `clock`). An attempt passes if the
 * breaker lets it (as a call, a half-open probe or a conservative trickle, by the attempt's priority), else
 * it is refused with reason `"circuit-open"` and the time until half-open as its retry-after hint. The
 * attempt's end is recorded as the breaker's default predicate reads the error it models: a success;
 * a failure for overload (503), error (500) and timeout; nothing for a refusal by a later stage (a
 * limiter's rejection never reached the dependency). Gauge `open`: 1 while open, 0.5 half-open, 0 closed.
 */
export function breakerPolicy(
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
): SimPolicy {
  const { type: _type, ...rest } = spec;
  const options: Record<string, unknown> = { ...rest, clock: context.clock };
  const breaker = construct(path, options, (o) => createBreaker(o as BreakerOptions));
  return {
    name: 'breaker',
    gaugeNames: ['open'],
    settleRounds: 1,
    offer(request, gate) {
      const ticket = breaker.tryPass(request.priority as Priority | undefined);
      if (ticket !== undefined) gate.admit(request, ticket);
      else gate.reject(request, CIRCUIT_OPEN, breaker.openError().retryAfterMs);
    },
    settle(_request, token, settlement) {
      const ticket = token as BreakerTicket;
      if (settlement === 'success') ticket.success();
      else if (settlement === 'shed') ticket.ignore();
      else ticket.failure();
    },
    // Reading the state may observe the end of an open period, as the next call would: no behaviour changes.
    gauges: () => [openLevel[breaker.state]],
  };
}

/**
 * What the downstream's failures look like to sluice's policies: an HTTP-like error with a `status` (503
 * for `"overload"`, 500 for `"error"`), as a fetch wrapper would throw. The retry predicate and the
 * breaker read them exactly as they would read the real thing.
 */
export class DownstreamError extends Error {
  override readonly name = 'DownstreamError';
  readonly status: number;

  constructor(status: number) {
    super(`downstream answered ${status}`);
    this.status = status;
  }
}

const rejectReasons: ReadonlySet<string> = new Set<RejectReason>([
  'limit',
  'queue-full',
  'queue-timeout',
  'deadline',
  'aborted',
  'partition',
  'shed',
]);

/** The error a real call would have seen for an attempt that ended in failure. */
export function failureOf(end: AttemptEnd, now: number): Error {
  switch (end.answer) {
    case 'overload':
      return new DownstreamError(503);
    case 'error':
      return new DownstreamError(500);
    case 'timeout':
      return new TimeoutError({
        policy: 'downstream',
        timeoutMs: now - end.request.arrivedAt,
        source: 'timeout',
      });
    default: {
      const retryAfterMs = end.retryAfterMs;
      if (end.reason === CIRCUIT_OPEN) {
        return new CircuitOpenError({ breaker: 'breaker', state: 'open', retryAfterMs });
      }
      const reason = end.reason !== undefined && rejectReasons.has(end.reason) ? end.reason : 'shed';
      return new RejectedError(reason as RejectReason, {
        limit: Number.NaN,
        inflight: Number.NaN,
        queued: 0,
        retryAfterMs,
      });
    }
  }
}

type BackoffFactory = (options: Record<string, unknown>) => Backoff;

const backoffs: Readonly<Record<string, BackoffFactory>> = {
  'full-jitter': (o) => fullJitterBackoff(o),
  'decorrelated-jitter': (o) => decorrelatedJitterBackoff(o),
  exponential: (o) => exponentialBackoff(o),
  constant: (o) => constantBackoff(o),
};

/** A backoff as scenarios give it: a constant delay (ms) or `{ type, ...options }`. */
function backoffOf(spec: unknown, path: string): Backoff {
  if (typeof spec === 'number') return constantBackoff({ delay: finite(path, spec, 0) });
  const o = object(path, spec, 'a delay in ms or { type, ...options }');
  const { type = 'full-jitter', ...options } = o;
  const name = oneOf(join(path, 'type'), type, Object.keys(backoffs));
  return construct(path, options, backoffs[name]!, 'backoff');
}

/** One caller's call through a `retry` stage: its attempts, one after the other. */
class Call {
  readonly gate: PolicyGate;
  /** The attempt under way (or the last one, once the call is over). */
  current: SimRequest;
  /** The error the last failed attempt was given: what the retry policy throws when it gives up. */
  lastError: unknown = undefined;
  /** Whether the `retry` stage has seen the retry being sent (see `retryPolicy`). */
  offered = false;
  /** The attempt that ended last. */
  last: SimRequest | undefined = undefined;
  #resolve: () => void = noop;
  #reject: (error: unknown) => void = noop;

  constructor(first: SimRequest, gate: PolicyGate) {
    this.current = first;
    this.gate = gate;
  }

  /** The promise of one attempt, settled by `ended`. */
  pending(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  ended(end: AttemptEnd, now: number): void {
    this.last = end.request;
    if (end.answer === 'success') {
      this.#resolve();
      return;
    }
    const error = failureOf(end, now);
    this.lastError = error;
    this.#reject(error);
  }
}

function noop(): void {}

/**
 * `retry`: sluice's retry policy (`createRetry`) inside the caller's call, as `guard()` runs it. Options:
 * `attempts`, `honourRetryAfter`, `maxDelay` and `name` as in `createRetry`; `backoff` a constant delay
 * (ms) or `{ type, ...options }` with type `full-jitter` (the default), `decorrelated-jitter`,
 * `exponential` or `constant`; `budget` `false` (unbudgeted) or `createRetryBudget` options (default: a
 * budget of its own with the defaults, 10% of first attempts plus 1 per second over 10 s). Jitter draws on
 * the policy's random stream, backoffs sleep on the simulation's clock.
 *
 * The caller waits for the whole call: each retry is a new attempt (counted in `offered` and `retries`)
 * sent to the stages after this one, with the call's deadline, and the client request ends when the
 * policy stops (`clients` counts it once, with all its attempts). The policy decides as it would in
 * production, on the error each failure models: 503 (overload) and timeouts are retried, 500 (error) is
 * not; a later stage's refusal is a `RejectedError` (retried, after its retry-after hint) or, from a
 * `breaker` stage, a `CircuitOpenError` (not retried). It belongs first in a pipeline, as in the guard:
 * `[retry, breaker, limiter]`.
 *
 * Compare the workload's own `retry` option, which models naive clients outside any policy: they retry
 * every failed call on a fixed schedule, with no budget, each retry a fresh call to the policy (and to a
 * `retry` stage, a new first attempt).
 *
 * Gauges: `calls` (calls under way, backoffs included), `budget` (retries the budget still allows now;
 * NaN without a budget).
 */
export function retryPolicy(
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
): SimPolicy {
  checkKeys(path, spec, ['type', 'name', 'attempts', 'backoff', 'budget', 'honourRetryAfter', 'maxDelay']);
  const { type: _type, backoff, budget, ...rest } = spec;
  const clock = context.clock;
  const random = context.random;
  const extra: { -readonly [K in keyof RetryOptions]: RetryOptions[K] } = {
    random: () => random.next(),
  };
  if (backoff !== undefined) extra.backoff = backoffOf(backoff, join(path, 'backoff'));
  if (budget === false) extra.budget = false;
  else if (budget !== undefined) {
    const bp = join(path, 'budget');
    const o = object(bp, budget, 'false or { ratio?, minPerSecond?, window? }');
    extra.budget = construct(bp, { ...o, clock }, (x) => createRetryBudget(x as RetryBudgetOptions));
  }
  const retry: Retry = construct(path, { ...rest, clock }, (o) =>
    createRetry({ ...(o as RetryOptions), ...extra }),
  );

  // The call whose retry is being sent: `context.retry` offers it to the whole policy before it returns.
  let sending: Call | undefined;
  // Retries sent but not yet offered to this stage: a stage before it holds them in its queue.
  const queued = new Set<SimRequest>();
  let calls = 0;

  const start = (request: SimRequest, gate: PolicyGate): void => {
    const call = new Call(request, gate);
    const onEnd = (end: AttemptEnd): void => {
      queued.delete(end.request);
      call.ended(end, clock.now());
    };
    const attempt = (ctx: CallContext): Promise<void> => {
      const pending = call.pending();
      if (ctx.attempt === 0) {
        call.gate.admit(request);
        return pending;
      }
      sending = call;
      call.offered = false;
      let next: SimRequest;
      try {
        next = context.retry(call.current, onEnd);
      } finally {
        sending = undefined;
      }
      call.current = next;
      if (!call.offered && call.last !== next) queued.add(next);
      return pending;
    };
    const finish = (): void => {
      calls--;
      context.conclude(call.current);
    };
    calls++;
    context.hold(request, onEnd);
    const deadline = request.deadline === Number.POSITIVE_INFINITY ? undefined : request.deadline;
    context.track(retry.execute(attempt, { deadline, priority: request.priority }), finish, (error) => {
      // The retry policy throws the last attempt's error unchanged; anything else is a bug to surface.
      if (error !== call.lastError) throw error;
      finish();
    });
  };

  return {
    name: 'retry',
    gaugeNames: ['calls', 'budget'],
    // The policy's `execute` is an async function: a failure reaches its decision one turn after the
    // attempt's promise rejects, and its give-up reaches the simulation one turn later.
    settleRounds: 3,
    offer(request, gate) {
      if (sending !== undefined) {
        sending.offered = true;
        gate.admit(request);
      } else if (queued.delete(request)) {
        gate.admit(request);
      } else {
        start(request, gate);
      }
    },
    settle() {},
    gauges() {
      const b = retry.budget;
      if (b === undefined) return [calls, Number.NaN];
      const s = b.snapshot();
      return [calls, Math.max(0, s.allowance - s.retries)];
    },
  };
}
