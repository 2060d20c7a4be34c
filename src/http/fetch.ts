import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError, isRejectedError, isSluiceError, SluiceError } from '../core/errors.ts';
import { func, integer } from '../core/validate.ts';
import { classifyError } from '../limiter/classify.ts';
import { createLimiter } from '../limiter/limiter.ts';
import type { Limiter, LimiterOptions, Outcome, Priority } from '../limiter/types.ts';
import {
  type Breaker,
  type BreakerOptions,
  defaultIsFailure,
  type FailurePredicate,
  isCircuitOpenError,
} from '../policies/breaker.ts';
import { buildParts, type Guard, type GuardOptions, guard, orderParts } from '../policies/guard.ts';
import { type LimiterPolicy, limiterPolicy } from '../policies/limiter-policy.ts';
import type { CallContext, CallOptions, Policy } from '../policies/policy.ts';
import {
  createRetry,
  isRetryableError,
  parseRetryAfter,
  type Retry,
  type RetryOptions,
} from '../policies/retry.ts';
import { createRetryBudget, type RetryBudget } from '../policies/retry-budget.ts';
import {
  defaultThrottleClassifier,
  type Throttle,
  type ThrottleClassifier,
  type ThrottleOptions,
} from '../policies/throttle.ts';
import type { Timeout } from '../policies/timeout.ts';

/**
 * A guarded `fetch`: one guard per origin (retry within a per-origin budget, circuit breaker, adaptive
 * limiter, per-attempt timeout; a throttle if asked), and HTTP answers read as those policies need them.
 *
 * How a response or an error is read:
 *
 * | outcome                         | limiter | breaker  | retried                      |
 * | ------------------------------- | ------- | -------- | ---------------------------- |
 * | 2xx, 3xx, 4xx but 408 and 429   | success | success  | no                           |
 * | 429, 408                        | dropped | ignored  | yes, any method              |
 * | 503                             | dropped | failure  | yes, any method              |
 * | 504                             | dropped | failure  | idempotent methods           |
 * | other 5xx (not 501, 505)        | ignored | failure  | idempotent methods           |
 * | 501, 505                        | ignored | failure  | no                           |
 * | attempt timeout                 | dropped | failure  | idempotent methods           |
 * | connection refused              | dropped | failure  | yes, any method              |
 * | connection reset or closed      | dropped | failure  | idempotent methods           |
 * | the caller's abort              | ignored | ignored  | no                           |
 *
 * Why: 429 and 408 are answers from a healthy server that is busy, so they teach the limiter to back off
 * but do not count against the server's health; a 429, 408 or 503 also says the request was not
 * processed, so even a POST may be sent again. A timeout, a reset connection or a 500 leaves it unknown
 * whether a POST took effect, so only idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or any
 * request with an `Idempotency-Key` header) are retried after them: a duplicate charge is worse than a
 * failed one. For those methods a 5xx is retried although it is often deterministic, since a single bad
 * replica behind a balancer is common and the retry budget caps what retries can cost. Other 4xx are
 * the caller's mistakes: the server did its work, so they are successes, not evidence of an outage.
 * Refused and reset connections are drops: a peer that sheds connections is overloaded (its accept queue
 * overflowed, a proxy hit its connection cap).
 *
 * A request whose body cannot be replayed (a stream) is never retried. The final response is returned as
 * it is, a 503 included, like `fetch` (unless `throwOnError`); the body of every response that is retried
 * or replaced is cancelled, so its connection returns to the pool. When a later attempt is refused
 * locally (an open breaker, a limiter or throttle shedding), the previous answer is returned: it is still
 * the truth about the request. Each origin's guard runs retry, breaker, (throttle,) limiter, timeout,
 * outermost first, as `guard()` does. The timeout bounds an attempt up to the response headers; reading
 * the body is bounded by the caller's signal, which stays connected to it.
 */

/** Per-call sluice options, carried in `init.sluice` (the underlying fetch never sees them). */
export interface SluiceRequestOptions {
  /** Criticality of the request, for the limiter's queue (and a conservative breaker or a throttle). */
  readonly priority?: Priority;
  /** Absolute deadline on the guard's clock (ms): no attempt starts, and no retry waits, past it. */
  readonly deadline?: number;
}

export interface GuardedRequestInit extends RequestInit {
  readonly sluice?: SluiceRequestOptions;
}

export interface GuardedFetchOptions {
  /** The fetch to guard. Default `globalThis.fetch` (as it is when `createFetch` is called). */
  readonly fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /**
   * Guard options for an origin (`"https://api.example.com"`), called once, when the origin is first
   * seen. Parts given as options get this module's readings of HTTP outcomes (a breaker's `isFailure`, a
   * throttle's `classify`, a retry's `retryable`) unless they set their own; parts given as ready policies
   * are used as they are. The defaults: an adaptive limiter, a breaker, a retry (3 attempts) on a retry
   * budget of the origin's own, a 10 s timeout per attempt, no throttle. Default `() => ({})`.
   */
  readonly perOrigin?: (origin: string) => GuardOptions;
  /** Time source of the guards. Default the system monotonic clock. */
  readonly clock?: Clock;
  /**
   * Throw an `HttpStatusError` (which holds the response) when the final answer is a 408, 429 or 5xx,
   * instead of returning the response. Default false, like `fetch`.
   */
  readonly throwOnError?: boolean;
  /** Most origins holding a guard; beyond it, the least recently used origin's guard is dropped. Default 1000. */
  readonly maxOrigins?: number;
}

/** The policies guarding one origin. */
export interface FetchGuard {
  readonly origin: string;
  /** The retry of replayable requests with an idempotent method, if retries are on. */
  readonly retry: Retry | undefined;
  /** The budget the origin's retries share, if any. */
  readonly budget: RetryBudget | undefined;
  readonly breaker: Breaker | undefined;
  readonly throttle: Throttle | undefined;
  readonly limiter: LimiterPolicy | undefined;
  readonly timeout: Timeout | undefined;
}

export interface GuardedFetch {
  (input: string | URL | Request, init?: GuardedRequestInit): Promise<Response>;
  /** The guard of the origin of `url` (an origin, or any URL on it), created if not yet seen. */
  guardOf(url: string | URL): FetchGuard;
}

/** A response the guard read as a failure (a 408, 429 or 5xx), thrown through the policies. */
export class HttpStatusError extends SluiceError {
  readonly code = 'SLUICE_HTTP_STATUS';
  override readonly name = 'HttpStatusError';
  readonly status: number;
  readonly method: string;
  readonly url: string;
  /** The response; its body is unread (and is cancelled if the request is retried). */
  readonly response: Response;
  /** The server's Retry-After (ms), if it sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(method: string, url: string, response: Response) {
    super(`sluice: ${method} ${withoutQuery(url)} answered ${response.status}${text(response.statusText)}`);
    this.status = response.status;
    this.method = method;
    this.url = url;
    this.response = response;
    this.retryAfterMs = retryAfter(response.headers);
  }
}

/** True for an `HttpStatusError` from any copy of sluice. */
export function isHttpStatusError(error: unknown): error is HttpStatusError {
  return isSluiceError(error) && error.code === 'SLUICE_HTTP_STATUS';
}

/** The URL without its query and fragment, which may hold credentials: messages end up in logs. */
function withoutQuery(url: string): string {
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
}

function text(statusText: string): string {
  return statusText === '' ? '' : ` ${statusText}`;
}

/** Reads Retry-After as seconds, or as an HTTP date against the response's own `Date` (no wall clock needed). */
function retryAfter(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const date = headers.get('date');
  const sent = date === null ? Number.NaN : Date.parse(date);
  return parseRetryAfter(value, Number.isNaN(sent) ? undefined : () => sent);
}

// --- readings of outcomes ----------------------------------------------------------------------------

/** Statuses thrown through the policies (the rest are returned as successes). */
function failing(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

const overloadStatus = new Set([408, 429, 503, 504]);
const connectionCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** The `code` of an error or of one of its first causes (fetch wraps socket errors in a `TypeError`). */
function codeOf(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The limiter's reading (see the table above). */
export function fetchOutcome(error: unknown): Outcome {
  if (isHttpStatusError(error)) return overloadStatus.has(error.status) ? 'dropped' : 'ignore';
  if (classifyError(error) === 'dropped') return 'dropped';
  const code = isSluiceError(error) ? undefined : codeOf(error);
  return code !== undefined && connectionCodes.has(code) ? 'dropped' : 'ignore';
}

/** The breaker's reading: 429 and 408 say nothing about health; the rest as `defaultIsFailure`. */
const fetchIsFailure: FailurePredicate = (error, signal) => {
  if (isHttpStatusError(error)) return error.status === 429 || error.status === 408 ? 'ignore' : true;
  return defaultIsFailure(error, signal);
};

/** The throttle's reading: overload as the limiter reads it; calls that never left are ignored. */
const fetchThrottleClassifier: ThrottleClassifier = (error, signal) => {
  if (defaultThrottleClassifier(error, signal) === 'ignore') return 'ignore';
  return fetchOutcome(error) === 'dropped' ? 'rejected' : 'accepted';
};

/** Retries of idempotent requests: every transient failure, and 5xx but the deterministic ones. */
function retryableIdempotent(error: unknown): boolean {
  if (isHttpStatusError(error)) return error.status !== 501 && error.status !== 505;
  return isRetryableError(error);
}

/** Retries of other requests: only when the request surely was not processed. */
function retryableUnsafe(error: unknown): boolean {
  if (isHttpStatusError(error)) return error.status === 429 || error.status === 408 || error.status === 503;
  if (isRejectedError(error)) return isRetryableError(error);
  return !isSluiceError(error) && codeOf(error) === 'ECONNREFUSED';
}

const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

// --- per-origin guards -------------------------------------------------------------------------------

interface OriginEntry extends FetchGuard {
  /** Breaker, throttle, limiter, timeout: one attempt. */
  readonly once: Guard;
  /** Retried guards, or `once` when retries are off. */
  readonly idempotent: Guard;
  readonly unsafe: Guard;
}

function isPolicy(value: unknown): value is Policy {
  return typeof value === 'object' && value !== null && typeof (value as Policy).execute === 'function';
}

/** Options objects get this module's readings as defaults; ready policies and `false` pass unchanged. */
function withDefault<O extends object, D extends Partial<O>>(
  value: Policy | O | false | undefined,
  defaults: D,
): Policy | O | false | undefined {
  if (value === false || isPolicy(value)) return value;
  if (value === undefined) return defaults as unknown as O;
  return { ...defaults, ...value };
}

function buildOrigin(origin: string, given: GuardOptions, clock: Clock): OriginEntry {
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('perOrigin(origin)', given, 'guard options (an object)');
  }
  const o: GuardOptions = { name: origin, clock, ...given };
  const c = o.clock ?? clock;
  const breaker = withDefault<BreakerOptions, BreakerOptions>(o.breaker, { isFailure: fetchIsFailure });
  const throttle =
    o.throttle === undefined
      ? false
      : withDefault<ThrottleOptions, ThrottleOptions>(o.throttle, { classify: fetchThrottleClassifier });
  const parts = buildParts({
    ...o,
    retry: false,
    limiter: false,
    breaker: breaker as Breaker | BreakerOptions | false,
    throttle: throttle as Throttle | ThrottleOptions | false,
    timeout: o.timeout ?? 10_000,
  });
  const limiter = fetchLimiter(o.limiter, c, o.name ?? origin);
  const once = guard(...orderParts({ ...parts, limiter }));

  const r = o.retry;
  let idempotentRetry: Retry | undefined;
  let unsafeRetry: Retry | undefined;
  let budget: RetryBudget | undefined;
  if (isPolicy(r)) {
    idempotentRetry = r;
    unsafeRetry = r;
    budget = r.budget;
  } else if (r !== false) {
    const ro: RetryOptions = r ?? {};
    if (typeof ro !== 'object' || ro === null)
      throw new ConfigError('retry', ro, 'a Retry, options, or false');
    budget =
      ro.budget === undefined ? createRetryBudget({ clock: c }) : ro.budget === false ? undefined : ro.budget;
    const base: RetryOptions = {
      clock: c,
      name: `${o.name ?? origin}.retry`,
      ...ro,
      budget: budget ?? false,
    };
    idempotentRetry = createRetry({ retryable: retryableIdempotent, ...base });
    unsafeRetry = createRetry({ retryable: retryableUnsafe, ...base });
  }
  return {
    origin,
    retry: idempotentRetry,
    budget,
    breaker: parts.breaker,
    throttle: parts.throttle,
    limiter,
    timeout: parts.timeout,
    once,
    idempotent: idempotentRetry === undefined ? once : guard(idempotentRetry, once),
    unsafe: unsafeRetry === undefined ? once : guard(unsafeRetry, once),
  };
}

function fetchLimiter(
  value: Limiter | LimiterPolicy | LimiterOptions | false | undefined,
  clock: Clock,
  name: string,
): LimiterPolicy | undefined {
  if (value === false) return undefined;
  if (isPolicy(value)) return value as LimiterPolicy;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new ConfigError(
      'limiter',
      value,
      'a Limiter, a limiterPolicy, options for createLimiter, or false',
    );
  }
  const limiter =
    value !== undefined && typeof (value as Limiter).run === 'function'
      ? (value as Limiter)
      : createLimiter({ clock, name, ...(value as LimiterOptions | undefined) });
  return limiterPolicy(limiter, { classify: fetchOutcome });
}

// --- one call ----------------------------------------------------------------------------------------

/**
 * One guarded request across its attempts. It holds the response of the latest attempt that failed, whose
 * body stays unread until it is either returned, or cancelled when a new attempt replaces it.
 */
class Call {
  readonly #fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  readonly #input: string | URL | Request;
  readonly #init: RequestInit;
  readonly #caller: AbortSignal | undefined;
  readonly #method: string;
  readonly #url: string;
  last: HttpStatusError | undefined = undefined;

  constructor(
    fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>,
    input: string | URL | Request,
    init: RequestInit,
    caller: AbortSignal | undefined,
    method: string,
    url: string,
  ) {
    this.#fetch = fetch;
    this.#input = input;
    this.#init = init;
    this.#caller = caller;
    this.#method = method;
    this.#url = url;
  }

  readonly attempt = (context: CallContext): Promise<Response> => {
    this.discard();
    return this.#fetch(this.#input, { ...this.#init, signal: this.#signal(context.signal) ?? null }).then(
      this.#check,
    );
  };

  /** Cancels the body of the held response, if any. */
  discard(): void {
    const last = this.last;
    if (last === undefined) return;
    this.last = undefined;
    cancelBody(last.response);
  }

  readonly #check = (response: Response): Response => {
    if (!failing(response.status)) return response;
    const error = new HttpStatusError(this.#method, this.#url, response);
    this.last = error;
    throw error;
  };

  /**
   * The signal for one attempt. The policies' signal already follows the caller's, but a timeout's signal
   * stops following it once the attempt has settled; the response body, read later, must still abort
   * when the caller aborts, so both are combined then.
   */
  #signal(policies: AbortSignal | undefined): AbortSignal | undefined {
    const caller = this.#caller;
    if (policies === undefined || policies === caller) return caller;
    if (caller === undefined) return policies;
    return AbortSignal.any([caller, policies]);
  }
}

function cancelBody(response: Response): void {
  const body = response.body;
  if (body === null || body.locked) return;
  body.cancel().catch(() => {});
}

function replayable(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/**
 * Builds a guarded `fetch`: a drop-in for the global one that keeps a guard per origin and reads HTTP
 * outcomes for it (see the table at the top of this module).
 *
 * ```ts
 * const fetch = createFetch({ perOrigin: () => ({ timeout: 2000, retry: { attempts: 4 } }) });
 * const res = await fetch('https://api.example.com/users/1', { sluice: { priority: 'high' } });
 * ```
 */
export function createFetch(options: GuardedFetchOptions = {}): GuardedFetch {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const fetchImpl = func<(input: string | URL | Request, init?: RequestInit) => Promise<Response>>(
    'fetch',
    options.fetch ?? globalThis.fetch,
  );
  const perOrigin = func<(origin: string) => GuardOptions>('perOrigin', options.perOrigin ?? (() => ({})));
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new ConfigError('clock', clock, 'a Clock (an object with now() and setTimer())');
  }
  const throwOnError = options.throwOnError ?? false;
  if (typeof throwOnError !== 'boolean') throw new ConfigError('throwOnError', throwOnError, 'a boolean');
  const maxOrigins = integer('maxOrigins', options.maxOrigins ?? 1000, 1);
  // Insertion order is recency order: a hit moves its origin to the end.
  const origins = new Map<string, OriginEntry>();

  const entry = (origin: string): OriginEntry => {
    let e = origins.get(origin);
    if (e !== undefined) {
      if (origins.size > 1) {
        origins.delete(origin);
        origins.set(origin, e);
      }
      return e;
    }
    e = buildOrigin(origin, perOrigin(origin), clock);
    origins.set(origin, e);
    if (origins.size > maxOrigins) origins.delete(origins.keys().next().value as string);
    return e;
  };

  const guarded = async (input: string | URL | Request, init?: GuardedRequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const url = request !== undefined ? request.url : input instanceof URL ? input.href : String(input);
    const origin = new URL(url).origin;
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const body = init?.body !== undefined ? init.body : request?.body;
    const caller = init?.signal ?? request?.signal ?? undefined;
    let rest: RequestInit = {};
    if (init !== undefined) {
      const { sluice: _, ...others } = init;
      rest = others;
    }
    const sluice = init?.sluice;
    const callOptions: CallOptions = {
      signal: caller,
      priority: sluice?.priority,
      deadline: sluice?.deadline,
    };

    const e = entry(origin);
    let policy: Guard;
    if (!replayable(body)) {
      e.budget?.recordAttempt();
      policy = e.once;
    } else if (idempotentMethods.has(method) || hasIdempotencyKey(init, request)) {
      policy = e.idempotent;
    } else {
      policy = e.unsafe;
    }
    const call = new Call(fetchImpl, input, rest, caller, method, url);
    try {
      return await policy.execute(call.attempt, callOptions);
    } catch (error) {
      const last = call.last;
      // The last answer the server gave stands when a later attempt was refused locally.
      if (last !== undefined && (error === last || isCircuitOpenError(error) || refusedForLoad(error))) {
        if (throwOnError) throw last;
        return last.response;
      }
      call.discard();
      throw error;
    }
  };
  return Object.assign(guarded, {
    guardOf(url: string | URL): FetchGuard {
      return entry(new URL(url).origin);
    },
  });
}

/** A limiter's or throttle's refusal of an attempt; not the caller's own abort. */
function refusedForLoad(error: unknown): boolean {
  return isRejectedError(error) && error.reason !== 'aborted';
}

function hasIdempotencyKey(init: RequestInit | undefined, request: Request | undefined): boolean {
  const headers = init?.headers ?? request?.headers;
  if (headers === undefined) return false;
  return new Headers(headers).has('idempotency-key');
}
