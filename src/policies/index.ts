// Fault-handling policies: each implements `Policy`, so `guard()` can compose them.

export * from './backoff/index.ts';
export * from './breaker.ts';
export { earliest, type LinkedSignal, linkSignal, remaining } from './deadline.ts';
export * from './degrade.ts';
export { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';
export * from './retry.ts';
export * from './retry-budget.ts';
export * from './throttle.ts';
export * from './timeout.ts';
