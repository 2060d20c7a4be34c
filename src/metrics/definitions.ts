/**
 * Every metric sluice exports, defined once. The Prometheus exporter and the OpenTelemetry bridge both
 * derive their instruments from these records, so the two never drift: the OpenTelemetry name is
 * `sluice.<component>.<name>` with a UCUM unit, and the Prometheus name follows the OpenTelemetry to
 * Prometheus translation (dots become underscores, the unit becomes a suffix, counters end in `_total`).
 *
 * Values are in base units: seconds, not milliseconds; ratios in [0, 1].
 */

export type MetricType = 'gauge' | 'counter' | 'histogram';

export interface MetricDefinition {
  readonly type: MetricType;
  /** The tracked kind of component, e.g. `"limiter"`: the second part of both names. */
  readonly component: string;
  /** Dotted path of snake_case words within the component, e.g. `"queue.oldest_age"`. */
  readonly name: string;
  /**
   * UCUM unit, as OpenTelemetry wants it: `"s"` for seconds, `"1"` for a dimensionless number, a
   * `{annotation}` for a count of things, `"{token}/s"` for a rate.
   */
  readonly unit: string;
  /** One sentence for `# HELP` and the instrument's description. */
  readonly help: string;
  /** Labels (attributes) of each series besides the tracked instance's own (`name` and any given). */
  readonly labels: readonly string[];
  /** A ratio in [0, 1]: the Prometheus name ends in `_ratio`. */
  readonly ratio?: boolean;
  /** Histogram bucket upper bounds, ascending. */
  readonly buckets?: readonly number[];
}

/** Seconds a request may wait in a queue: 1 ms to 10 s. */
const WAIT_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10] as const;
/** Seconds a batch write may take: 5 ms to 30 s. */
const FLUSH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** Items in one batch. */
const ITEM_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] as const;

function gauge(component: string, name: string, unit: string, help: string, labels: string[] = []) {
  return { type: 'gauge', component, name, unit, help, labels } as const satisfies MetricDefinition;
}

function counter(component: string, name: string, unit: string, help: string, labels: string[] = []) {
  return { type: 'counter', component, name, unit, help, labels } as const satisfies MetricDefinition;
}

function histogram(
  component: string,
  name: string,
  unit: string,
  help: string,
  labels: string[],
  buckets: readonly number[],
) {
  return {
    type: 'histogram',
    component,
    name,
    unit,
    help,
    labels,
    buckets,
  } as const satisfies MetricDefinition;
}

export const limiterMetrics = {
  limit: gauge(
    'limiter',
    'limit',
    '{request}',
    'Concurrency limit in force: the most weighted requests admitted at once.',
  ),
  inflight: gauge('limiter', 'inflight', '{request}', 'Weighted requests holding a permit.'),
  queueDepth: gauge('limiter', 'queue.depth', '{request}', 'Requests waiting in the queue.'),
  queueAge: gauge(
    'limiter',
    'queue.oldest_age',
    's',
    'Time the oldest waiter has waited; 0 when the queue is empty.',
  ),
  standing: gauge(
    'limiter',
    'queue.standing',
    '1',
    '1 while a standing queue exists (waiters past the target are shed, service is LIFO in adaptive order), else 0.',
  ),
  wait: histogram(
    'limiter',
    'queue.wait',
    's',
    'Time requests waited in the queue, by outcome; requests admitted without waiting are not observed.',
    ['outcome'],
    WAIT_BUCKETS,
  ),
  rejections: counter('limiter', 'rejections', '{request}', 'Requests refused, by reason and priority.', [
    'reason',
    'priority',
  ]),
  limitChanges: counter(
    'limiter',
    'limit_changes',
    '{change}',
    'Changes of the limit, by the rule that fired.',
    ['rule'],
  ),
};

export const breakerMetrics = {
  state: gauge('breaker', 'state', '1', 'Circuit breaker state: 1 for the current state, 0 for the others.', [
    'state',
  ]),
  calls: gauge('breaker', 'window.calls', '{call}', 'Calls in the sliding window of the closed state.'),
  failureRatio: gauge(
    'breaker',
    'failure_ratio',
    '1',
    'Failed calls / calls in the sliding window; 0 when empty.',
  ),
  slowRatio: gauge(
    'breaker',
    'slow_call_ratio',
    '1',
    'Slow calls / calls in the sliding window; 0 when empty.',
  ),
  transitions: counter('breaker', 'transitions', '{transition}', 'State changes of the breaker.', [
    'from',
    'to',
  ]),
  rejections: counter(
    'breaker',
    'rejections',
    '{call}',
    'Calls refused by the breaker, by its state; enforced="false" counts those a fail-open breaker let run.',
    ['state', 'enforced'],
  ),
};

export const regulatorMetrics = {
  rate: gauge('regulator', 'rate', '{token}/s', 'Rate the regulator grants tokens at, per second.'),
  tokens: gauge('regulator', 'tokens', '{token}', 'Tokens in the bucket.'),
  queueDepth: gauge('regulator', 'queue.depth', '{request}', 'Callers waiting for tokens.'),
  rejections: counter('regulator', 'rejections', '{request}', 'Calls to take() refused, by reason.', [
    'reason',
  ]),
  rateChanges: counter(
    'regulator',
    'rate_changes',
    '{change}',
    'Changes of the rate, by the rule that fired.',
    ['rule'],
  ),
};

export const pressureMetrics = {
  score: gauge('pressure', 'score', '1', 'Smoothed pressure score in [0, 1]: 0 idle, 1 overwhelmed.'),
  level: gauge('pressure', 'level', '1', 'Pressure level: 1 for the current level, 0 for the others.', [
    'level',
  ]),
  contribution: gauge(
    'pressure',
    'contribution',
    '1',
    "Each signal's weighted contribution to the latest instantaneous score, in [0, 1].",
    ['component'],
  ),
  levelChanges: counter(
    'pressure',
    'level_changes',
    '{change}',
    'Changes of the pressure level, by the level entered.',
    ['level'],
  ),
};

export const serverMetrics = {
  requests: counter(
    'server',
    'requests',
    '{request}',
    'Requests seen by server protection, by route and outcome (success, dropped, ignored, disconnected, slowBody, shed, quota, invalid).',
    ['route', 'outcome'],
  ),
  routeInflight: gauge('server', 'route.inflight', '{request}', 'Admitted requests in flight, by route.', [
    'route',
  ]),
  level: gauge(
    'server',
    'pressure.level',
    '1',
    'Process pressure level: 1 for the current level, 0 for the others.',
    ['level'],
  ),
  cap: gauge(
    'server',
    'pressure.cap',
    '{request}',
    'Ceiling process pressure puts on the limit; +Inf when none binds.',
  ),
  loopDelay: gauge(
    'server',
    'event_loop.delay',
    's',
    '99th percentile of the event-loop delay over the last interval.',
  ),
  loopUtilization: {
    ...gauge(
      'server',
      'event_loop.utilization',
      '1',
      'Fraction of the last interval the event loop was busy.',
    ),
    ratio: true,
  },
  heapUsed: {
    ...gauge('server', 'heap.used', '1', "Heap in use as a fraction of the heap's size limit."),
    ratio: true,
  },
};

export const poolMetrics = {
  size: gauge('pool', 'size', '{worker}', 'Workers asked for: the target within [min, max].'),
  ready: gauge('pool', 'ready', '{worker}', 'Workers ready to take a task (idle, or busy and staying).'),
  workers: gauge(
    'pool',
    'workers',
    '{worker}',
    'Workers by state: starting, idle, busy, or retiring (busy, leaving after its task).',
    ['state'],
  ),
  queueDepth: gauge('pool', 'queue.depth', '{task}', 'Tasks waiting for a worker.'),
  queueAge: gauge(
    'pool',
    'queue.oldest_age',
    's',
    'Time the longest-waiting task has waited; 0 when none waits.',
  ),
  rejections: counter('pool', 'rejections', '{task}', 'Tasks refused, by reason.', ['reason']),
  crashes: counter('pool', 'crashes', '{crash}', 'Worker threads that died, by what they were doing.', [
    'phase',
  ]),
};

export const autoscalerMetrics = {
  desired: gauge(
    'autoscaler',
    'replicas.desired',
    '{replica}',
    'Replicas decided at the last tick (in dry-run, the count it would set).',
  ),
  actual: gauge(
    'autoscaler',
    'replicas.actual',
    '{replica}',
    'Replicas ready to serve, as the actuator reported at the last tick.',
  ),
  signal: gauge(
    'autoscaler',
    'signal',
    '1',
    'Latest reading of each signal the policies see, in its own unit.',
    ['signal'],
  ),
  decisions: counter(
    'autoscaler',
    'decisions',
    '{decision}',
    'Decisions by the rule that won and their direction (up, down, hold).',
    ['rule', 'direction'],
  ),
  clamps: counter(
    'autoscaler',
    'clamps',
    '{clamp}',
    'Times a guard bounded the proposed replica count, by guard.',
    ['guard'],
  ),
  errors: counter(
    'autoscaler',
    'errors',
    '{error}',
    'Failures of a collector, policy or the actuator, by stage.',
    ['stage'],
  ),
};

export const batcherMetrics = {
  size: gauge('batcher', 'size', '{item}', 'Target batch size.'),
  buffered: gauge('batcher', 'buffered', '{item}', 'Items waiting for a batch, retries included.'),
  inflight: gauge('batcher', 'inflight', '{item}', 'Items in flushes under way.'),
  oldestAge: gauge('batcher', 'oldest_age', 's', 'Time the oldest buffered item has waited; 0 when none.'),
  items: histogram(
    'batcher',
    'flush.items',
    '{item}',
    'Items per flushed batch, by outcome.',
    ['outcome'],
    ITEM_BUCKETS,
  ),
  duration: histogram(
    'batcher',
    'flush.duration',
    's',
    'Time a flush took, by outcome.',
    ['outcome'],
    FLUSH_BUCKETS,
  ),
  rejections: counter(
    'batcher',
    'rejections',
    '{item}',
    'Calls to add() refused before their item was flushed, by reason.',
    ['reason'],
  ),
};

export const throttleMetrics = {
  probability: gauge(
    'throttle',
    'rejection_probability',
    '1',
    'Probability a call of the default priority is rejected locally now.',
  ),
  rejections: counter('throttle', 'rejections', '{call}', 'Calls rejected locally, by priority.', [
    'priority',
  ]),
};

export const retryMetrics = {
  retries: counter('retry', 'retries', '{retry}', 'Retries scheduled after a failed attempt.'),
  giveUps: counter('retry', 'give_ups', '{call}', 'Calls the policy stopped retrying, by why.', ['why']),
};

/** Every definition, by component. */
export const metricDefinitions = {
  limiter: limiterMetrics,
  breaker: breakerMetrics,
  regulator: regulatorMetrics,
  pressure: pressureMetrics,
  server: serverMetrics,
  pool: poolMetrics,
  autoscaler: autoscalerMetrics,
  batcher: batcherMetrics,
  throttle: throttleMetrics,
  retry: retryMetrics,
} as const satisfies Record<string, Record<string, MetricDefinition>>;

/** The Prometheus suffix of a UCUM unit, after the OpenTelemetry to Prometheus translation. */
function unitSuffix(unit: string): string {
  const [per, time] = unit.split('/');
  const base = per === undefined || per.startsWith('{') || per === '1' ? '' : (UNITS[per] ?? per);
  if (time === undefined) return base;
  const perTime = time === 's' ? 'second' : time === 'min' ? 'minute' : time === 'h' ? 'hour' : time;
  return base === '' ? `per_${perTime}` : `${base}_per_${perTime}`;
}

const UNITS: Readonly<Record<string, string>> = { s: 'seconds', ms: 'milliseconds', By: 'bytes' };

/** `sluice_limiter_queue_oldest_age_seconds`, `sluice_limiter_rejections_total`, ... */
export function prometheusName(definition: MetricDefinition, prefix = 'sluice_'): string {
  let name = `${prefix}${definition.component}_${definition.name.replaceAll('.', '_')}`;
  const suffix = unitSuffix(definition.unit);
  if (suffix !== '' && !name.endsWith(`_${suffix}`)) name += `_${suffix}`;
  if (definition.ratio === true && !name.endsWith('_ratio')) name += '_ratio';
  if (definition.type === 'counter') name += '_total';
  return name;
}

/** `sluice.limiter.queue.oldest_age`, `sluice.limiter.rejections`, ... */
export function otelName(definition: MetricDefinition, prefix = 'sluice.'): string {
  return `${prefix}${definition.component}.${definition.name}`;
}
