// sluice: adaptive backpressure for Node.js. The root export holds the core: no runtime dependencies.

export * from './batch/index.ts';
export * from './consumer/index.ts';
export { type Clock, sleep, systemClock, type Timer, type TimerOptions } from './core/clock.ts';
export {
  ConfigError,
  isConfigError,
  isRejectedError,
  isSluiceError,
  RejectedError,
  type RejectionDetails,
  type RejectReason,
  SluiceError,
} from './core/errors.ts';
export { Events, type Listener } from './core/events.ts';
export * from './global/index.ts';
export { classifyError } from './limiter/classify.ts';
export { createLimiter, defaultLimit } from './limiter/limiter.ts';
export {
  type AcquireOptions,
  type Criticality,
  criticality,
  type DropPolicy,
  type ErrorClassifier,
  type Limiter,
  type LimiterEvents,
  type LimiterOptions,
  type LimiterSnapshot,
  type Outcome,
  type PartitionOptions,
  type Permit,
  type Priority,
  type QueueOptions,
  type RunContext,
} from './limiter/types.ts';
export * from './limits/index.ts';
export * from './policies/index.ts';
export * from './regulator/index.ts';
export * from './signals/index.ts';
