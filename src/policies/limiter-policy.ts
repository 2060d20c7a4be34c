import { ConfigError } from '../core/errors.ts';
import { finite, func, nonNegative } from '../core/validate.ts';
import type { AcquireOptions, ErrorClassifier, Limiter, Outcome, Permit } from '../limiter/types.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';

export interface LimiterPolicyOptions {
  /** Name in records and errors. Default `"limiter"`. */
  readonly name?: string;
  /** Cost of each call in permits (> 0). Default 1. */
  readonly weight?: number;
  /** Partition every call is charged to. Default the limiter's default partition. */
  readonly partition?: string;
  /** Fairness key every call is queued under. Default none. */
  readonly key?: string;
  /** Longest a call waits in the limiter's queue (ms, >= 0; `Infinity` allowed). Default the queue's `timeout`. */
  readonly timeout?: number;
  /**
   * Reads an error thrown by the work as the outcome the limit algorithm learns from. Default: the
   * limiter's own classifier (its `classify` option, `classifyError` unless configured).
   */
  readonly classify?: ErrorClassifier;
  /**
   * Reads a value the work returned, for work that reports overload without throwing (a `Response` with
   * status 503 is `"dropped"`, a 404 `"ignore"`). Default: every value is a `"success"`.
   */
  readonly classifyResult?: (value: unknown) => Outcome;
}

/** A limiter seen as a `Policy`, so `guard()` can compose it with the fault-handling policies. */
export interface LimiterPolicy extends Policy {
  /** The limiter this policy acquires from. */
  readonly limiter: Limiter;
}

type Static = Pick<AcquireOptions, 'weight' | 'partition' | 'key' | 'timeout'>;

class LimiterAdapter implements LimiterPolicy {
  readonly name: string;
  readonly limiter: Limiter;
  readonly #static: Static;
  readonly #hasStatic: boolean;
  readonly #classify: ErrorClassifier | undefined;
  readonly #classifyResult: ((value: unknown) => Outcome) | undefined;

  constructor(limiter: Limiter, o: LimiterPolicyOptions) {
    if (typeof limiter !== 'object' || limiter === null || typeof limiter.run !== 'function') {
      throw new ConfigError('limiter', limiter, 'a Limiter (from createLimiter)');
    }
    if (typeof o !== 'object' || o === null) throw new ConfigError('options', o, 'an object');
    this.limiter = limiter;
    const name = o.name ?? 'limiter';
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    const s: { -readonly [K in keyof Static]: Static[K] } = {};
    if (o.weight !== undefined) s.weight = finite('weight', o.weight, Number.MIN_VALUE);
    if (o.partition !== undefined) s.partition = text('partition', o.partition);
    if (o.key !== undefined) s.key = text('key', o.key);
    if (o.timeout !== undefined) s.timeout = nonNegative('timeout', o.timeout);
    this.#static = s;
    this.#hasStatic = Object.keys(s).length > 0;
    this.#classify = o.classify === undefined ? undefined : func<ErrorClassifier>('classify', o.classify);
    this.#classifyResult =
      o.classifyResult === undefined
        ? undefined
        : func<(value: unknown) => Outcome>('classifyResult', o.classifyResult);
  }

  /**
   * Acquires a permit with the call's priority, deadline and signal (waiting in the queue if it must), runs
   * `fn`, and releases the permit as the classifiers read the outcome. A rejection is the limiter's
   * `RejectedError`; `fn` then never runs. The context `fn` receives is the caller's, unchanged: the limiter
   * adds no signal or deadline of its own.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const context = contextOf(options);
    const acquire = this.#acquireOptions(options);
    if (this.#classify === undefined && this.#classifyResult === undefined) {
      // The limiter's own run(): its classifier, its single-hop release.
      return this.limiter.run(() => fn(context), acquire);
    }
    return this.limiter.run(({ permit }) => this.#classified(permit, fn, context), acquire);
  }

  /** Settles the permit itself; the limiter's later release of the same permit is then a no-op. */
  async #classified<T>(
    permit: Permit,
    fn: (context: CallContext) => T | PromiseLike<T>,
    context: CallContext,
  ): Promise<T> {
    let value: T;
    try {
      value = await fn(context);
    } catch (error) {
      if (this.#classify !== undefined) permit.release(safely(this.#classify, error));
      throw error;
    }
    if (this.#classifyResult !== undefined) permit.release(safely(this.#classifyResult, value));
    return value;
  }

  #acquireOptions(options: CallOptions | undefined): AcquireOptions | undefined {
    const priority = options?.priority;
    const deadline = options?.deadline;
    const signal = options?.signal;
    if (priority === undefined && deadline === undefined && signal === undefined) {
      return this.#hasStatic ? this.#static : undefined;
    }
    const a: { -readonly [K in keyof AcquireOptions]: AcquireOptions[K] } = { ...this.#static };
    if (priority !== undefined) a.priority = priority;
    if (deadline !== undefined) a.deadline = deadline;
    if (signal !== undefined) a.signal = signal;
    return a;
  }
}

/** A classifier that throws must not leave the permit unreleased: its outcome is then `"ignore"`. */
function safely(classify: (value: never) => Outcome, value: unknown): Outcome {
  try {
    return classify(value as never);
  } catch {
    return 'ignore';
  }
}

function text(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(option, value, 'a non-empty string');
  return value;
}

/**
 * Adapts a limiter to the `Policy` contract. Each call acquires a permit with its context's priority,
 * deadline and signal, so a retry composed outside it queues again like any other call, and releases it as
 * a success (its latency is a sample), a drop (an overload signal: the limit backs off) or an ignore (a fast
 * failure that says nothing about load), as the limiter's classifier, or `classify`/`classifyResult`, read
 * the outcome.
 *
 * ```ts
 * const limited = limiterPolicy(createLimiter(), { classifyResult: (r) => (r.status === 503 ? 'dropped' : 'success') });
 * const res = await limited.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function limiterPolicy(limiter: Limiter, options: LimiterPolicyOptions = {}): LimiterPolicy {
  return new LimiterAdapter(limiter, options);
}
