// Fault-handling policies: each implements `Policy`, so `guard()` can compose them.

export * from './backoff/index.ts';
export * from './breaker.ts';
export { earliest, type LinkedSignal, linkSignal, remaining } from './deadline.ts';
export {
  type AsyncMethod,
  type GuardedDecorator,
  type GuardedDecoratorFor,
  type GuardedOptions,
  guarded,
} from './decorator.ts';
export * from './degrade.ts';
export { type ComposedGuard, type Guard, type GuardOptions, type GuardParts, guard } from './guard.ts';
export { type LimiterPolicy, type LimiterPolicyOptions, limiterPolicy } from './limiter-policy.ts';
export { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';
export * from './retry.ts';
export * from './retry-budget.ts';
export * from './throttle.ts';
export * from './timeout.ts';
