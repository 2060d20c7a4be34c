// sluice/testing: helpers for testing code that uses sluice on virtual time.

export { flushMicrotasks, VirtualClock } from './core/virtual-clock.ts';
