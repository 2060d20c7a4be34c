// sluice/scale: the autoscaler. Collectors gather readings, the controller analyses them into signals,
// policies propose replica counts, guards bound them, actuators apply them; every decision is a record.

export * from './actuators/index.ts';
export * from './analyse.ts';
export * from './collectors/index.ts';
export {
  type AutoscaleDecision,
  type Autoscaler,
  type AutoscalerErrorStage,
  type AutoscalerEvents,
  type AutoscalerLogger,
  type AutoscalerOptions,
  createAutoscaler,
  type ShadowDecision,
  type ShadowOptions,
} from './controller.ts';
export { type CostOptions, type CostPlan, type CostSplit, costPlan } from './cost.ts';
export {
  applyGuards,
  type Behavior,
  type Cooldown,
  defaultBehavior,
  type RatePolicy,
  resolveBehavior,
  type ScalingRules,
  type SelectPolicy,
} from './guards.ts';
export * from './policies/index.ts';
export * from './pool/index.ts';
export type { RollbackOptions, RollbackRecord } from './rollback.ts';
export type { SignalTracker } from './signal-set.ts';
export type {
  Actuator,
  Capacity,
  Clamp,
  Collector,
  Decision,
  PolicyInput,
  Proposal,
  Readings,
  ScaleMode,
  ScalingPolicy,
  Signal,
} from './types.ts';
