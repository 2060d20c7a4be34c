// sluice/metrics: Prometheus (prom-client, an optional peer) and OpenTelemetry (@opentelemetry/api, an
// optional peer) metrics over one set of definitions, and structured decision logs.

export type { Emit, Labels, Tracking, TrackOptions } from './core.ts';
export {
  autoscalerMetrics,
  batcherMetrics,
  breakerMetrics,
  limiterMetrics,
  type MetricDefinition,
  type MetricType,
  metricDefinitions,
  otelName,
  poolMetrics,
  pressureMetrics,
  prometheusName,
  regulatorMetrics,
  retryMetrics,
  serverMetrics,
  throttleMetrics,
} from './definitions.ts';
export { isPeerDependencyError, PeerDependencyError } from './errors.ts';
export { type ExpositionSource, type MetricsHandler, metricsHandler } from './handler.ts';
export { type ComponentKind, kindOf } from './kinds.ts';
export {
  type DecisionLogger,
  describeTransition,
  type LogDecisionsOptions,
  type LoggedBatcher,
  type LogSource,
  logDecisions,
} from './log.ts';
export {
  type OtelHistogram,
  type OtelInstrumentOptions,
  type OtelMeter,
  type OtelMetricsOptions,
  type OtelObservable,
  type OtelObservableCallback,
  type OtelObservableResult,
  otelMetrics,
} from './otel.ts';
export {
  createMetrics,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
  type PrometheusRegistry,
} from './prometheus.ts';
export type { PriorityTrackOptions, SluiceMetrics, Trackable, TrackedDegrader } from './tracker.ts';
export type {
  PriorityNames,
  TrackedAutoscaler,
  TrackedBatcher,
  TrackedBreaker,
  TrackedLimiter,
  TrackedPool,
  TrackedPressure,
  TrackedRegulator,
  TrackedRetry,
  TrackedServer,
  TrackedThrottle,
} from './trackers.ts';
