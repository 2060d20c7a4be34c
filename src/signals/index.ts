/** Signals: turn raw samples (latencies, events, gauges, queue state) into the numbers deciders act on. */
export { EventLoopMonitor, type EventLoopMonitorOptions, type EventLoopReading } from './event-loop.ts';
export { Ewma, type EwmaOptions } from './ewma.ts';
export { LatencyHistogram, type LatencySnapshot } from './histogram.ts';
export { LatencyWindow, type LatencyWindowOptions } from './latency-window.ts';
export {
  type PressureComponent,
  type PressureEvents,
  type PressureInputs,
  type PressureLevel,
  PressureMeter,
  type PressureMeterOptions,
  type PressureOptions,
  type PressureReading,
  type PressureResult,
  type PressureThreshold,
  type PressureWeights,
  pressureScore,
} from './pressure.ts';
export { RateMeter, type RateMeterOptions } from './rate.ts';
export { TrendGauge, type TrendGaugeOptions } from './trend.ts';
