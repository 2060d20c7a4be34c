import type { Labels } from '../metrics/core.ts';
import {
  autoscalerMetrics,
  batcherMetrics,
  breakerMetrics,
  limiterMetrics,
  type MetricDefinition,
  poolMetrics,
  pressureMetrics,
  regulatorMetrics,
  retryMetrics,
  serverMetrics,
  throttleMetrics,
} from '../metrics/definitions.ts';
import type { ComponentKind } from '../metrics/kinds.ts';
import type { ChartFormat } from './types.ts';

/**
 * What the dashboard charts, as a view over the metric definitions: which series of `sluice/metrics` go
 * together on one chart. What to read from each component is the trackers' business (src/metrics/
 * trackers.ts), not this file's; a new metric appears here by naming its definition in a chart.
 */

/** How a line is computed from the series of a definition in one sample interval. */
export type Stat =
  /** A gauge's value (summed over the matching series). */
  | 'value'
  /** A counter's increase per second over the interval. */
  | 'rate'
  /** Mean of a histogram's observations in the interval. */
  | 'mean'
  /** Largest of a histogram's observations in the interval. */
  | 'max'
  /** Index in the chart's `states` of the state-set series at 1. */
  | 'state';

export interface LineSpec {
  readonly label: string;
  readonly metric: MetricDefinition;
  readonly stat: Stat;
  /** Only the series with these label values. */
  readonly where?: Labels;
  /** One line per value of this label, named by it (series summed over the other labels). */
  readonly by?: string;
  /** Value of a `mean` or `max` line over an interval without observations. Default none (a gap). */
  readonly idle?: number;
}

export interface ChartSpec {
  /** Unique within a group. */
  readonly key: string;
  readonly title: string;
  readonly format: ChartFormat;
  readonly lines: readonly LineSpec[];
  readonly states?: readonly string[];
  readonly step?: boolean;
  readonly range?: readonly [number, number];
}

/** A step chart of a state gauge (one series per state, 1 for the current one), its states bottom to top. */
function stateChart(
  key: string,
  title: string,
  states: readonly string[],
  label: string,
  metric: MetricDefinition,
): ChartSpec {
  return {
    key,
    title,
    format: 'state',
    states,
    step: true,
    range: [0, states.length - 1],
    lines: [{ label, metric, stat: 'state' }],
  };
}

const l = limiterMetrics;
const limiterCharts: readonly ChartSpec[] = [
  {
    key: 'concurrency',
    title: 'Limit, in flight and queue',
    format: 'count',
    lines: [
      { label: 'limit', metric: l.limit, stat: 'value' },
      { label: 'in flight', metric: l.inflight, stat: 'value' },
      { label: 'queued', metric: l.queueDepth, stat: 'value' },
    ],
  },
  {
    key: 'latency',
    title: 'Latency: time waited in the queue',
    format: 'seconds',
    lines: [
      { label: 'mean wait', metric: l.wait, stat: 'mean', where: { outcome: 'admitted' }, idle: 0 },
      { label: 'max wait', metric: l.wait, stat: 'max', idle: 0 },
      { label: 'oldest waiting', metric: l.queueAge, stat: 'value' },
    ],
  },
  {
    key: 'rejections',
    title: 'Rejections per second, by reason',
    format: 'rate',
    lines: [{ label: '', metric: l.rejections, stat: 'rate', by: 'reason' }],
  },
];

const BREAKER_STATES = ['closed', 'half-open', 'open', 'isolated'] as const;
const b = breakerMetrics;
const breakerCharts: readonly ChartSpec[] = [
  stateChart('state', 'Breaker state', BREAKER_STATES, 'state', b.state),
  {
    key: 'window',
    title: 'Failed and slow calls in the window',
    format: 'ratio',
    range: [0, 1],
    lines: [
      { label: 'failed', metric: b.failureRatio, stat: 'value' },
      { label: 'slow', metric: b.slowRatio, stat: 'value' },
    ],
  },
  {
    key: 'rejections',
    title: 'Calls refused per second',
    format: 'rate',
    lines: [{ label: 'refused', metric: b.rejections, stat: 'rate' }],
  },
];

const r = regulatorMetrics;
const regulatorCharts: readonly ChartSpec[] = [
  {
    key: 'rate',
    title: 'Regulator rate (tokens per second)',
    format: 'rate',
    lines: [{ label: 'rate', metric: r.rate, stat: 'value' }],
  },
  {
    key: 'queue',
    title: 'Callers waiting for tokens',
    format: 'count',
    lines: [{ label: 'queued', metric: r.queueDepth, stat: 'value' }],
  },
  {
    key: 'rejections',
    title: 'Rejections per second, by reason',
    format: 'rate',
    lines: [{ label: '', metric: r.rejections, stat: 'rate', by: 'reason' }],
  },
];

const p = pressureMetrics;
const pressureCharts: readonly ChartSpec[] = [
  {
    key: 'score',
    title: 'Pressure score and what makes it',
    format: 'ratio',
    range: [0, 1],
    lines: [
      { label: 'score', metric: p.score, stat: 'value' },
      { label: '', metric: p.contribution, stat: 'value', by: 'component' },
    ],
  },
];

const LEVELS = ['normal', 'elevated', 'critical'] as const;
const s = serverMetrics;
const serverCharts: readonly ChartSpec[] = [
  {
    key: 'requests',
    title: 'Requests per second, by outcome',
    format: 'rate',
    lines: [{ label: '', metric: s.requests, stat: 'rate', by: 'outcome' }],
  },
  stateChart('level', 'Process pressure level', LEVELS, 'level', s.level),
  {
    key: 'load',
    title: 'Event loop and heap',
    format: 'ratio',
    range: [0, 1],
    lines: [
      { label: 'loop busy', metric: s.loopUtilization, stat: 'value' },
      { label: 'heap used', metric: s.heapUsed, stat: 'value' },
    ],
  },
  {
    key: 'delay',
    title: 'Event-loop delay (p99)',
    format: 'seconds',
    lines: [{ label: 'delay', metric: s.loopDelay, stat: 'value' }],
  },
];

const w = poolMetrics;
const poolCharts: readonly ChartSpec[] = [
  {
    key: 'workers',
    title: 'Workers',
    format: 'count',
    step: true,
    lines: [
      { label: 'size', metric: w.size, stat: 'value' },
      { label: 'ready', metric: w.ready, stat: 'value' },
      { label: 'busy', metric: w.workers, stat: 'value', where: { state: 'busy' } },
    ],
  },
  {
    key: 'queue',
    title: 'Tasks waiting',
    format: 'count',
    lines: [{ label: 'queued', metric: w.queueDepth, stat: 'value' }],
  },
];

const a = autoscalerMetrics;
const autoscalerCharts: readonly ChartSpec[] = [
  {
    key: 'replicas',
    title: 'Replicas desired and actual',
    format: 'count',
    step: true,
    lines: [
      { label: 'desired', metric: a.desired, stat: 'value' },
      { label: 'actual', metric: a.actual, stat: 'value' },
    ],
  },
];

const t = batcherMetrics;
const batcherCharts: readonly ChartSpec[] = [
  {
    key: 'size',
    title: 'Batch size',
    format: 'count',
    lines: [
      { label: 'target', metric: t.size, stat: 'value' },
      { label: 'flushed (mean)', metric: t.items, stat: 'mean' },
    ],
  },
  {
    key: 'items',
    title: 'Items buffered and in flight',
    format: 'count',
    lines: [
      { label: 'buffered', metric: t.buffered, stat: 'value' },
      { label: 'in flight', metric: t.inflight, stat: 'value' },
    ],
  },
];

const throttleCharts: readonly ChartSpec[] = [
  {
    key: 'probability',
    title: 'Local rejection probability',
    format: 'ratio',
    range: [0, 1],
    lines: [{ label: 'probability', metric: throttleMetrics.probability, stat: 'value' }],
  },
];

const retryCharts: readonly ChartSpec[] = [
  {
    key: 'retries',
    title: 'Retries and give-ups per second',
    format: 'rate',
    lines: [
      { label: 'retries', metric: retryMetrics.retries, stat: 'rate' },
      { label: 'gave up: ', metric: retryMetrics.giveUps, stat: 'rate', by: 'why' },
    ],
  },
];

/** The charts of each kind of tracked component, in page order. */
export const panels: Readonly<Record<ComponentKind, readonly ChartSpec[]>> = {
  limiter: limiterCharts,
  server: [...limiterCharts, ...serverCharts],
  breaker: breakerCharts,
  regulator: regulatorCharts,
  pressure: pressureCharts,
  degrader: pressureCharts,
  pool: poolCharts,
  autoscaler: autoscalerCharts,
  batcher: batcherCharts,
  throttle: throttleCharts,
  retry: retryCharts,
};
