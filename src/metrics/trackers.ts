import { isRejectedError } from '../core/errors.ts';
import { criticality, type Limiter } from '../limiter/types.ts';
import type { Breaker, BreakerState } from '../policies/breaker.ts';
import type { Retry } from '../policies/retry.ts';
import type { Throttle } from '../policies/throttle.ts';
import type { Regulator } from '../regulator/regulator.ts';
import type { AutoscaleDecision, Autoscaler } from '../scale/controller.ts';
import type { Pool } from '../scale/pool/types.ts';
import type { PressureLevel, PressureMeter } from '../signals/pressure.ts';
import type { Labels, Scope } from './core.ts';
import {
  autoscalerMetrics,
  batcherMetrics,
  breakerMetrics,
  limiterMetrics,
  poolMetrics,
  pressureMetrics,
  regulatorMetrics,
  retryMetrics,
  serverMetrics,
  throttleMetrics,
} from './definitions.ts';

/**
 * One function per kind of component: it registers, on the scope of one tracked instance, gauges read from
 * the instance's snapshot at collection time and counters or histograms fed by its events. Nothing here
 * runs per admitted request: snapshots are read at scrape time, and the events listened to are rejections,
 * queue exits and decisions. Adding a kind is one such function and its definitions.
 */

/** What the limiter tracker reads: any `Limiter`. */
export type TrackedLimiter = Pick<Limiter, 'name' | 'snapshot' | 'on'>;
export type TrackedBreaker = Pick<Breaker, 'name' | 'snapshot' | 'on'>;
export type TrackedRegulator = Pick<Regulator, 'name' | 'snapshot' | 'on'>;
export type TrackedPressure = Pick<PressureMeter, 'name' | 'score' | 'level' | 'last' | 'on'>;
export type TrackedPool = Pick<Pool<never, unknown>, 'name' | 'snapshot' | 'on'>;
export type TrackedAutoscaler = Pick<Autoscaler, 'name' | 'decisions' | 'on'>;
export type TrackedThrottle = Pick<Throttle, 'name' | 'snapshot' | 'on'>;
export type TrackedRetry = Pick<Retry, 'name' | 'on'>;

/** What the server tracker reads: a `ServerProtection` (from `sluice/http`). */
export interface TrackedServer {
  readonly limiter: TrackedLimiter;
  snapshot(): {
    readonly level: PressureLevel;
    readonly pressureCap: number;
    readonly load: {
      readonly eventLoopDelayMs: number;
      readonly eventLoopUtilization: number;
      readonly heapUsed: number;
    };
    readonly routes: Readonly<
      Record<string, { readonly inflight: number } & Readonly<Record<RouteOutcome, number>>>
    >;
  };
}

/** What the batcher tracker reads: a `Batcher`. */
export interface TrackedBatcher {
  readonly name: string;
  snapshot(): {
    readonly size: number;
    readonly buffered: number;
    readonly inflight: number;
    readonly oldestWaitMs: number;
  };
  on(
    name: 'flush',
    listener: (event: { readonly items: number; readonly latency: number; readonly outcome: string }) => void,
  ): () => void;
  on(name: 'reject', listener: (event: { readonly error: unknown }) => void): () => void;
}

export interface PriorityNames {
  /**
   * Names of the priority levels, most important first, for the `priority` label. Default the criticality
   * names (`critical`, `high`, `normal`, `low`, `sheddable`), the levels a limiter has unless given others.
   * A level beyond the list is labelled by its index.
   */
  readonly priorities?: readonly string[];
}

function priorityName(names: readonly string[], index: number | undefined): string {
  if (index === undefined) return 'unknown';
  return names[index] ?? String(index);
}

/** One `{ [label]: value }` per value, made once: gauges of a state set emit them at every collection. */
function labelSet<const T extends string>(label: string, values: readonly T[]): readonly [T, Labels][] {
  return values.map((v) => [v, { [label]: v }] as [T, Labels]);
}

const ADMITTED: Labels = { outcome: 'admitted' };
const REJECTED: Labels = { outcome: 'rejected' };
const SUCCESS: Labels = { outcome: 'success' };
const FAILURE: Labels = { outcome: 'failure' };

export function trackLimiter(scope: Scope, limiter: TrackedLimiter, options: PriorityNames = {}): void {
  const names = options.priorities ?? criticality;
  const m = limiterMetrics;
  const snap = scope.memo(() => limiter.snapshot());
  scope.observe(m.limit, (emit) => emit(snap().limit));
  scope.observe(m.inflight, (emit) => emit(snap().inflight));
  scope.observe(m.queueDepth, (emit) => emit(snap().queued));
  scope.observe(m.queueAge, (emit) => emit(snap().oldestWaitMs / 1000));
  scope.observe(m.standing, (emit) => emit(snap().standingQueue ? 1 : 0));
  const wait = scope.histogram(m.wait);
  const rejections = scope.counter(m.rejections);
  const changes = scope.counter(m.limitChanges);
  scope.listen(limiter.on('admit', (e) => wait.observe(e.waitedMs / 1000, ADMITTED)));
  scope.listen(limiter.on('drop', (e) => wait.observe(e.waitedMs / 1000, REJECTED)));
  scope.listen(
    limiter.on('reject', (e) =>
      rejections.inc({ reason: e.reason, priority: priorityName(names, e.error.priority) }),
    ),
  );
  scope.listen(limiter.on('limit', (e) => changes.inc({ rule: e.rule })));
}

const BREAKER_STATES = labelSet<BreakerState>('state', ['closed', 'open', 'half-open', 'isolated']);

export function trackBreaker(scope: Scope, breaker: TrackedBreaker): void {
  const m = breakerMetrics;
  const snap = scope.memo(() => breaker.snapshot());
  scope.observe(m.state, (emit) => {
    const state = snap().state;
    for (const [s, labels] of BREAKER_STATES) emit(s === state ? 1 : 0, labels);
  });
  scope.observe(m.calls, (emit) => emit(snap().window.calls));
  scope.observe(m.failureRatio, (emit) => emit(snap().window.failureRate));
  scope.observe(m.slowRatio, (emit) => emit(snap().window.slowCallRate));
  const transitions = scope.counter(m.transitions);
  const rejections = scope.counter(m.rejections);
  scope.listen(breaker.on('state', (e) => transitions.inc({ from: e.from, to: e.to })));
  scope.listen(
    breaker.on('reject', (e) => rejections.inc({ state: e.state, enforced: e.enforced ? 'true' : 'false' })),
  );
}

export function trackRegulator(scope: Scope, regulator: TrackedRegulator): void {
  const m = regulatorMetrics;
  const snap = scope.memo(() => regulator.snapshot());
  scope.observe(m.rate, (emit) => emit(snap().rate));
  scope.observe(m.tokens, (emit) => emit(snap().tokens));
  scope.observe(m.queueDepth, (emit) => emit(snap().queued));
  const rejections = scope.counter(m.rejections);
  const changes = scope.counter(m.rateChanges);
  scope.listen(regulator.on('reject', (e) => rejections.inc({ reason: e.reason })));
  scope.listen(regulator.on('rate', (e) => changes.inc({ rule: e.rule })));
}

const LEVELS = labelSet<PressureLevel>('level', ['normal', 'elevated', 'critical']);

export function trackPressure(scope: Scope, meter: TrackedPressure): void {
  const m = pressureMetrics;
  scope.observe(m.score, (emit) => emit(meter.score));
  scope.observe(m.level, (emit) => {
    const level = meter.level;
    for (const [l, labels] of LEVELS) emit(l === level ? 1 : 0, labels);
  });
  scope.observe(m.contribution, (emit) => {
    const components = meter.last?.raw.components;
    if (components === undefined) return;
    for (const [component, value] of Object.entries(components)) emit(value, { component });
  });
  const changes = scope.counter(m.levelChanges);
  scope.listen(meter.on('level', (e) => changes.inc({ level: e.level })));
}

type RouteOutcome =
  | 'success'
  | 'dropped'
  | 'ignored'
  | 'disconnected'
  | 'slowBody'
  | 'shed'
  | 'quota'
  | 'invalid';
const ROUTE_OUTCOMES: readonly RouteOutcome[] = [
  'success',
  'dropped',
  'ignored',
  'disconnected',
  'slowBody',
  'shed',
  'quota',
  'invalid',
];

export function trackServer(scope: Scope, server: TrackedServer, options: PriorityNames = {}): void {
  trackLimiter(scope, server.limiter, options);
  const m = serverMetrics;
  const snap = scope.memo(() => server.snapshot());
  scope.observe(m.requests, (emit) => {
    for (const [route, r] of Object.entries(snap().routes)) {
      for (const outcome of ROUTE_OUTCOMES) emit(r[outcome], { route, outcome });
    }
  });
  scope.observe(m.routeInflight, (emit) => {
    for (const [route, r] of Object.entries(snap().routes)) emit(r.inflight, { route });
  });
  scope.observe(m.level, (emit) => {
    const level = snap().level;
    for (const [l, labels] of LEVELS) emit(l === level ? 1 : 0, labels);
  });
  scope.observe(m.cap, (emit) => emit(snap().pressureCap));
  scope.observe(m.loopDelay, (emit) => emit(snap().load.eventLoopDelayMs / 1000));
  scope.observe(m.loopUtilization, (emit) => emit(snap().load.eventLoopUtilization));
  scope.observe(m.heapUsed, (emit) => emit(snap().load.heapUsed));
}

export function trackPool(scope: Scope, pool: TrackedPool): void {
  const m = poolMetrics;
  const snap = scope.memo(() => pool.snapshot());
  scope.observe(m.size, (emit) => emit(snap().size));
  scope.observe(m.ready, (emit) => emit(snap().ready));
  scope.observe(m.workers, (emit) => {
    const s = snap();
    emit(s.starting, { state: 'starting' });
    emit(s.idle, { state: 'idle' });
    emit(s.busy - s.retiring, { state: 'busy' });
    emit(s.retiring, { state: 'retiring' });
  });
  scope.observe(m.queueDepth, (emit) => emit(snap().queued));
  scope.observe(m.queueAge, (emit) => emit(snap().oldestWaitMs / 1000));
  const rejections = scope.counter(m.rejections);
  const crashes = scope.counter(m.crashes);
  scope.listen(
    pool.on('reject', (e) =>
      rejections.inc({ reason: isRejectedError(e.error) ? e.error.reason : 'closed' }),
    ),
  );
  scope.listen(pool.on('crash', (e) => crashes.inc({ phase: e.phase })));
}

function direction(d: AutoscaleDecision): string {
  return d.replicas > d.capacity.desired ? 'up' : d.replicas < d.capacity.desired ? 'down' : 'hold';
}

export function trackAutoscaler(scope: Scope, autoscaler: TrackedAutoscaler): void {
  const m = autoscalerMetrics;
  // The gauges show the last decision: the autoscaler keeps no state between ticks worth reading.
  let last: AutoscaleDecision | undefined = autoscaler.decisions.at(-1);
  scope.observe(m.desired, (emit) => {
    if (last !== undefined) emit(last.replicas);
  });
  scope.observe(m.actual, (emit) => {
    if (last !== undefined) emit(last.capacity.ready);
  });
  scope.observe(m.signal, (emit) => {
    if (last === undefined) return;
    for (const [signal, s] of Object.entries(last.signals)) emit(s.value, { signal });
  });
  const decisions = scope.counter(m.decisions);
  const clamps = scope.counter(m.clamps);
  const errors = scope.counter(m.errors);
  scope.listen(
    autoscaler.on('decision', (d) => {
      last = d;
      decisions.inc({ rule: d.rule, direction: direction(d) });
      for (const c of d.clamps) clamps.inc({ guard: c.guard });
    }),
  );
  scope.listen(autoscaler.on('error', (e) => errors.inc({ stage: e.stage })));
}

export function trackBatcher(scope: Scope, batcher: TrackedBatcher): void {
  const m = batcherMetrics;
  const snap = scope.memo(() => batcher.snapshot());
  scope.observe(m.size, (emit) => emit(snap().size));
  scope.observe(m.buffered, (emit) => emit(snap().buffered));
  scope.observe(m.inflight, (emit) => emit(snap().inflight));
  scope.observe(m.oldestAge, (emit) => emit(snap().oldestWaitMs / 1000));
  const items = scope.histogram(m.items);
  const duration = scope.histogram(m.duration);
  const rejections = scope.counter(m.rejections);
  scope.listen(
    batcher.on('flush', (e) => {
      const labels = e.outcome === 'success' ? SUCCESS : FAILURE;
      items.observe(e.items, labels);
      duration.observe(e.latency / 1000, labels);
    }),
  );
  scope.listen(
    batcher.on('reject', (e) =>
      rejections.inc({ reason: isRejectedError(e.error) ? e.error.reason : 'closed' }),
    ),
  );
}

export function trackThrottle(scope: Scope, throttle: TrackedThrottle, options: PriorityNames = {}): void {
  const names = options.priorities ?? criticality;
  const m = throttleMetrics;
  scope.observe(m.probability, (emit) => emit(throttle.snapshot().probability));
  const rejections = scope.counter(m.rejections);
  scope.listen(throttle.on('throttle', (e) => rejections.inc({ priority: priorityName(names, e.priority) })));
}

export function trackRetry(scope: Scope, retry: TrackedRetry): void {
  const m = retryMetrics;
  const retries = scope.counter(m.retries);
  const giveUps = scope.counter(m.giveUps);
  scope.listen(retry.on('retry', () => retries.inc()));
  scope.listen(retry.on('give-up', (e) => giveUps.inc({ why: e.why })));
}
