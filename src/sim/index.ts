/**
 * `sluice/sim`: a deterministic discrete-event simulator that runs the real sluice components on virtual
 * time. Build a `Scenario` (plain data), call `simulate(scenario)`, read `summary` and `series`.
 */
export {
  type AutoscaleObserver,
  type AutoscalePreset,
  type AutoscaleRecord,
  type AutoscaleSpec,
  type AutoscaleStageInfo,
  autoscalePolicy,
  autoscalePolicyFactory,
  sluiceBehavior,
} from './autoscale.ts';
export type {
  CapacityChange,
  DownstreamControl,
  DownstreamSpec,
  FaultSpec,
  ReplicaSpec,
} from './downstream.ts';
export { Engine, type EngineOptions, type RunOptions } from './engine.ts';
export { breakerPolicy, DownstreamError, retryPolicy } from './fault-policies.ts';
export { builtinPolicies, outcomeOf } from './policies.ts';
export type {
  AttemptEnd,
  PolicyContext,
  PolicyFactory,
  PolicyGate,
  Settlement,
  SimPolicy,
} from './policy.ts';
export { erlangC, mmcMeanWait } from './queueing.ts';
export { type Distribution, type DistributionSpec, distribution, Random } from './random.ts';
export * from './report/index.ts';
export type { Answer, Response, SimRequest } from './request.ts';
export {
  type PolicySpec,
  type Scenario,
  type SimResult,
  type SimSettings,
  type SimulateOptions,
  Simulation,
  simulate,
} from './run.ts';
export {
  compareScaling,
  runScaling,
  type ScalingBenchmark,
  type ScalingComparison,
  type ScalingMetrics,
  type ScalingMetricsOptions,
  type ScalingRun,
  type ScalingSpike,
  scalingMetrics,
  scalingTable,
} from './scaling-report.ts';
export {
  isScenarioFileError,
  loadScenarioFile,
  parseScenarioFile,
  type ScenarioFile,
  ScenarioFileError,
  type ScenarioFileOptions,
} from './scenario-file.ts';
export * from './scenarios/index.ts';
export type {
  CountsSummary,
  GaugeSummary,
  LatencySummary,
  SimRecord,
  SimSeries,
  SimSummary,
} from './stats.ts';
export { type ParseTraceOptions, parseTrace, type TraceFormat, type TraceRecord } from './trace.ts';
export type {
  ArrivalSpec,
  MixSpec,
  RequestSpec,
  RetryOn,
  RetrySpec,
  WorkloadSpec,
} from './workload.ts';
