// Limits shared across instances (global limits) and the pressure signal bus: the core, with no
// dependencies. The Redis and NATS backends live in `sluice/redis` and `sluice/nats`.

export {
  type FallbackMode,
  type GlobalAcquireOptions,
  type GlobalFallbackOptions,
  type GlobalLimiter,
  type GlobalLimiterEvents,
  type GlobalLimiterOptions,
  type GlobalLimiterSnapshot,
  type GlobalMode,
  type GlobalPermit,
  globalLimiter,
} from './limiter.ts';
export { type MemoryStoreOptions, memoryStore } from './memory-store.ts';
export {
  memoryTransport,
  type PressureMessage,
  type PressurePublisher,
  type PressurePublisherEvents,
  type PressurePublisherOptions,
  type PressureSignal,
  type PressureSubscriber,
  type PressureSubscriberEvents,
  type PressureSubscriberOptions,
  type PressureTransport,
  pressurePublisher,
  subscribePressure,
} from './pressure-bus.ts';
export { type PressureCap, type PressureCapOptions, pressureCap } from './pressure-cap.ts';
export {
  type BucketSpec,
  type GlobalStore,
  type LeaseGrant,
  StoreUnavailableError,
  type TakeResult,
} from './store.ts';
