export type { Backoff, GrowthOptions, RandomSource } from './backoff.ts';
export { seededRandom } from './backoff.ts';
export { type ConstantBackoffOptions, constantBackoff } from './constant.ts';
export { type DecorrelatedJitterOptions, decorrelatedJitterBackoff } from './decorrelated-jitter.ts';
export { exponentialBackoff } from './exponential.ts';
export { fullJitterBackoff } from './full-jitter.ts';
