import type { Priority } from '../limiter/types.ts';

/**
 * The contract every fault-handling policy (breaker, retry, timeout, throttle, the limiter's adapter) meets,
 * so `guard()` can compose them. A policy runs `fn` at most as often as its rule allows and either returns
 * its result or throws: the work's own error, or a sluice error saying why it did not run.
 */
export interface CallContext {
  /** Aborts the work: the caller's signal, combined with any timeout on the way. */
  readonly signal: AbortSignal | undefined;
  /** Absolute deadline on the policy's clock (ms), if any: pass what remains to the downstream. */
  readonly deadline: number | undefined;
  /** Attempt number, 0 for the first (retries count up). */
  readonly attempt: number;
  /** Criticality of the call, for policies that treat priorities differently. */
  readonly priority: Priority | undefined;
}

/** What a caller (or an outer policy) passes when it starts a call; absent fields take their defaults. */
export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
  readonly deadline?: number | undefined;
  readonly priority?: Priority | undefined;
  readonly attempt?: number | undefined;
}

export interface Policy {
  /** Short name for records and errors: `"breaker"`, `"retry"`, ... */
  readonly name: string;
  /** Runs `fn` under this policy. */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T>;
}

/** Builds the context of a first attempt from call options. */
export function contextOf(options: CallOptions | undefined): CallContext {
  return {
    signal: options?.signal,
    deadline: options?.deadline,
    attempt: options?.attempt ?? 0,
    priority: options?.priority,
  };
}
