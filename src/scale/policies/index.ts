export { type BurstOptions, burst } from './burst.ts';
export { type HpaBaselineOptions, type HpaDefaults, hpaBaseline, hpaDefaults } from './hpa.ts';
export { type PredictiveOptions, predictive } from './predictive.ts';
export { type QueueBasedOptions, queueBased } from './queue-based.ts';
export { type Step, type StepChange, type StepScalingOptions, stepScaling } from './step-scaling.ts';
export { type TargetTrackingOptions, targetTracking } from './target-tracking.ts';
