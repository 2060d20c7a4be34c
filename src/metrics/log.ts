import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { nonNegative, or } from '../core/validate.ts';
import type { LimiterEvents } from '../limiter/types.ts';
import type { BreakerEvents, TransitionReason } from '../policies/breaker.ts';
import type { Degrader } from '../policies/degrade.ts';
import type { RateChange } from '../regulator/regulator.ts';
import type { AutoscaleDecision } from '../scale/controller.ts';
import { duration, num } from '../scale/format.ts';
import type { PressureMeter } from '../signals/pressure.ts';
import type { Tracking } from './core.ts';
import { kindOf } from './kinds.ts';
import type {
  TrackedAutoscaler,
  TrackedBreaker,
  TrackedLimiter,
  TrackedPool,
  TrackedRegulator,
  TrackedServer,
} from './trackers.ts';

/** A pino-compatible logger: the record first, then the message (`logger.info({ ... }, 'text')`). */
export interface DecisionLogger {
  info(record: object, message?: string): void;
  warn(record: object, message?: string): void;
}

export interface LogDecisionsOptions {
  /**
   * Least time between two lines about the changes of one limit, rate or batch size (ms). Changes within
   * it are summed up in one line at its end: adaptive limits move every few hundred milliseconds, and a
   * line per move would drown the rest. 0 logs every change. Default 10000.
   */
  readonly interval?: number;
  /** Time source of that interval. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Also log autoscaler decisions that changed nothing and where nothing failed. Default true. */
  readonly holds?: boolean;
}

/** A batcher, as far as its log reads it. */
export interface LoggedBatcher {
  readonly name: string;
  on(name: 'size', listener: (event: SizeLike) => void): () => void;
}

interface SizeLike {
  readonly previous: number;
  readonly size: number;
  readonly rule: string;
  readonly signals: Readonly<Record<string, number>>;
}

/** Anything `logDecisions` takes. */
export type LogSource =
  | TrackedAutoscaler
  | TrackedBreaker
  | TrackedLimiter
  | TrackedRegulator
  | TrackedServer
  | TrackedPool
  | LoggedBatcher
  | Pick<Degrader, 'name' | 'meter' | 'on'>
  | Pick<PressureMeter, 'name' | 'on'>;

/**
 * Logs the decisions of a component as structured records, pino-style, with a one-line message. A record
 * names the component as its events do (`{ component: 'breaker', breaker: 'db', event: 'state', ... }`),
 * and avoids the keys pino writes itself (`level`, `msg`, `time`, `name`). What each kind logs:
 * - autoscaler: every decision (`info`; `warn` when something failed or a step was rolled back), with its
 *   summary as the message;
 * - breaker: every state change (`warn` when it opens or is isolated);
 * - limiter, server protection (its limiter), regulator, batcher: limit, rate or size changes, at most one
 *   line per `interval`;
 * - pressure meter, degrader: level changes (`warn` on entering critical);
 * - pool: resizes, and crashed workers (`warn`).
 *
 * Returns a handle that stops logging. A logger that throws does not disturb the component: its error is
 * rethrown asynchronously, as an event listener's is.
 */
export function logDecisions(
  source: LogSource,
  logger: DecisionLogger,
  options: LogDecisionsOptions = {},
): Tracking {
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof logger.info !== 'function' ||
    typeof logger.warn !== 'function'
  ) {
    throw new ConfigError('logger', logger, 'a logger with info() and warn() (pino-compatible)');
  }
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const clock = or(options.clock, systemClock);
  const interval = nonNegative('interval', or(options.interval, 10_000));
  const holds = or(options.holds, true);
  const log = (level: 'info' | 'warn', record: object, message: string): void => {
    try {
      logger[level](record, message);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  };
  const stops: (() => void)[] = [];
  const coalesce = <E extends Change>(write: (span: Span<E>) => void): ((e: E) => void) => {
    const c = new Coalescer<E>(clock, interval, write);
    stops.push(() => c.stop());
    return (e) => c.push(e);
  };

  const kind = kindOf(source);
  switch (kind) {
    case 'autoscaler':
      stops.push(logAutoscaler(source as TrackedAutoscaler, log, holds));
      break;
    case 'breaker':
      stops.push(logBreaker(source as TrackedBreaker, log));
      break;
    case 'limiter':
    case 'server': {
      const limiter = kind === 'server' ? (source as TrackedServer).limiter : (source as TrackedLimiter);
      stops.push(
        limiter.on(
          'limit',
          coalesce((span) => logLimit(limiter.name, span, log)),
        ),
      );
      break;
    }
    case 'regulator': {
      const regulator = source as TrackedRegulator;
      stops.push(
        regulator.on(
          'rate',
          coalesce((span) => logRate(regulator.name, span, log)),
        ),
      );
      break;
    }
    case 'batcher': {
      const batcher = source as LoggedBatcher;
      stops.push(
        batcher.on(
          'size',
          coalesce((span) => logSize(batcher.name, span, log)),
        ),
      );
      break;
    }
    case 'pool':
      stops.push(...logPool(source as TrackedPool, log));
      break;
    case 'degrader': {
      const d = source as Pick<Degrader, 'name' | 'on'>;
      stops.push(
        d.on('level', (e) => logLevel('degrader', d.name, e.previous, e.level, e.score, e.dominant, log)),
      );
      break;
    }
    case 'pressure': {
      const m = source as Pick<PressureMeter, 'name' | 'on'>;
      stops.push(
        m.on('level', (e) => logLevel('pressure', m.name, e.previous, e.level, e.score, e.raw.dominant, log)),
      );
      break;
    }
    default:
      throw new ConfigError(
        'source',
        source,
        'an autoscaler, breaker, limiter, server protection, regulator, batcher, pool, degrader or pressure meter',
      );
  }
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    for (const s of stops) s();
  };
  return { stop, [Symbol.dispose]: stop };
}

type Log = (level: 'info' | 'warn', record: object, message: string) => void;

interface Change {
  readonly previous: number;
  readonly rule: string;
  readonly signals: Readonly<Record<string, number>>;
}

/** Changes coalesced into one line: the first and the last, and how many there were. */
interface Span<E> {
  readonly first: E;
  readonly last: E;
  readonly changes: number;
}

/**
 * At most one write per interval: a change when the last write is an interval old is written at once;
 * later ones wait, and are written together when the interval is up.
 */
class Coalescer<E> {
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #write: (span: Span<E>) => void;
  #lastAt = Number.NEGATIVE_INFINITY;
  #first: E | undefined;
  #last: E | undefined;
  #count = 0;
  #timer: Timer | undefined;

  constructor(clock: Clock, interval: number, write: (span: Span<E>) => void) {
    this.#clock = clock;
    this.#interval = interval;
    this.#write = write;
  }

  push(e: E): void {
    const now = this.#clock.now();
    if (this.#count === 0 && now - this.#lastAt >= this.#interval) {
      this.#lastAt = now;
      this.#write({ first: e, last: e, changes: 1 });
      return;
    }
    if (this.#count === 0) this.#first = e;
    this.#last = e;
    this.#count++;
    this.#timer ??= this.#clock.setTimer(() => this.#flush(), this.#lastAt + this.#interval - now, {
      ref: false,
    });
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #flush(): void {
    this.#timer = undefined;
    this.#lastAt = this.#clock.now();
    const span = { first: this.#first as E, last: this.#last as E, changes: this.#count };
    this.#first = undefined;
    this.#last = undefined;
    this.#count = 0;
    this.#write(span);
  }
}

function spanText(span: Span<Change>): string {
  return span.changes === 1
    ? `(${span.last.rule})`
    : `over ${span.changes} changes (last: ${span.last.rule})`;
}

function logLimit(name: string, span: Span<LimiterEvents['limit']>, log: Log): void {
  const { first, last, changes } = span;
  log(
    'info',
    {
      component: 'limiter',
      limiter: name,
      event: 'limit',
      previous: first.previous,
      limit: last.limit,
      changes,
      rule: last.rule,
      signals: last.signals,
      inflight: last.inflight,
      queued: last.queued,
    },
    `limiter "${name}" limit ${num(first.previous)} → ${num(last.limit)} ${spanText(span)}`,
  );
}

function logRate(name: string, span: Span<RateChange>, log: Log): void {
  const { first, last, changes } = span;
  log(
    'info',
    {
      component: 'regulator',
      regulator: name,
      event: 'rate',
      previous: first.previous,
      rate: last.rate,
      changes,
      rule: last.rule,
      signals: last.signals,
    },
    `regulator "${name}" rate ${num(first.previous)}/s → ${num(last.rate)}/s ${spanText(span)}`,
  );
}

function logSize(name: string, span: Span<SizeLike>, log: Log): void {
  const { first, last, changes } = span;
  log(
    'info',
    {
      component: 'batcher',
      batcher: name,
      event: 'size',
      previous: first.previous,
      size: last.size,
      changes,
      rule: last.rule,
      signals: last.signals,
    },
    `batcher "${name}" size ${num(first.previous)} → ${num(last.size)} ${spanText(span)}`,
  );
}

function logAutoscaler(autoscaler: TrackedAutoscaler, log: Log, holds: boolean): () => void {
  return autoscaler.on('decision', (d: AutoscaleDecision) => {
    const attention = d.failures.length > 0 || d.rollback !== undefined;
    if (!holds && !d.changed && !attention) return;
    const signals: Record<string, number> = {};
    for (const [name, s] of Object.entries(d.signals)) signals[name] = s.value;
    const record = {
      component: 'autoscaler',
      autoscaler: d.autoscaler,
      event: 'decision',
      seq: d.seq,
      mode: d.mode,
      rule: d.rule,
      from: d.capacity.desired,
      ready: d.capacity.ready,
      proposed: d.proposed,
      replicas: d.replicas,
      changed: d.changed,
      proposals: d.proposals,
      clamps: d.clamps,
      signals,
      ...(d.stale.length > 0 ? { stale: d.stale } : {}),
      ...(d.failures.length > 0 ? { failures: d.failures } : {}),
      ...(d.rollback !== undefined ? { rollback: d.rollback } : {}),
      ...(d.shadow !== undefined ? { shadow: d.shadow } : {}),
    };
    log(attention ? 'warn' : 'info', record, `autoscaler "${d.autoscaler}" ${d.summary}`);
  });
}

function pct(x: number): string {
  return `${num(x * 100, 1)}%`;
}

/** Why a breaker moved, with its numbers. */
export function describeTransition(reason: TransitionReason): string {
  switch (reason.rule) {
    case 'consecutive-failures':
      return `${reason.failures} failures in a row (threshold ${reason.threshold})`;
    case 'failure-rate':
      return `${reason.failures} of ${reason.calls} calls failed (${pct(reason.rate)} >= ${pct(reason.threshold)})`;
    case 'slow-call-rate':
      return `${reason.slow} of ${reason.calls} calls took ${duration(reason.slowCallDuration)} or longer (${pct(reason.rate)} >= ${pct(reason.threshold)})`;
    case 'open-elapsed':
      return `open for ${duration(reason.openMs)}`;
    case 'probe-failure':
      return 'a probe failed';
    case 'probe-slow':
      return `a probe took ${duration(reason.durationMs)} (slow from ${duration(reason.slowCallDuration)})`;
    case 'trickle-success':
      return 'a trickle call succeeded';
    case 'probes-succeeded':
      return `${reason.successes} probe${reason.successes === 1 ? '' : 's'} succeeded`;
    case 'isolate':
      return 'isolated by hand';
    case 'isolation-ended':
      return 'the last isolation ended';
    case 'reset':
      return 'reset by hand';
  }
}

function logBreaker(breaker: TrackedBreaker, log: Log): () => void {
  return breaker.on('state', (e: BreakerEvents['state']) => {
    const opens = e.to === 'open' || e.to === 'isolated';
    const stays = e.to === 'open' && e.openMs !== undefined ? `; open for ${duration(e.openMs)}` : '';
    log(
      opens ? 'warn' : 'info',
      {
        component: 'breaker',
        breaker: e.breaker,
        event: 'state',
        from: e.from,
        to: e.to,
        rule: e.reason.rule,
        reason: e.reason,
        ...(e.openMs !== undefined ? { openMs: e.openMs } : {}),
      },
      `breaker "${e.breaker}" ${e.from} → ${e.to}: ${describeTransition(e.reason)}${stays}`,
    );
  });
}

function logLevel(
  component: string,
  name: string,
  previous: string,
  level: string,
  score: number,
  dominant: string,
  log: Log,
): void {
  log(
    level === 'critical' ? 'warn' : 'info',
    { component, [component]: name, event: 'level', from: previous, to: level, score, dominant },
    `${component} "${name}" ${previous} → ${level} (score ${num(score)}, dominant ${dominant})`,
  );
}

function logPool(pool: TrackedPool, log: Log): (() => void)[] {
  return [
    pool.on('resize', (e) =>
      log(
        'info',
        {
          component: 'pool',
          pool: e.pool,
          event: 'resize',
          previous: e.previous,
          size: e.size,
          requested: e.requested,
          started: e.started,
          retired: e.retired,
          draining: e.draining,
        },
        `pool "${e.pool}" resized ${e.previous} → ${e.size}${e.requested !== e.size ? ` (asked ${e.requested})` : ''}`,
      ),
    ),
    pool.on('crash', (e) =>
      log(
        'warn',
        {
          component: 'pool',
          pool: e.pool,
          event: 'crash',
          worker: e.worker,
          phase: e.phase,
          err: e.error,
          ...(e.restartInMs !== undefined ? { restartInMs: e.restartInMs } : {}),
        },
        `pool "${e.pool}" worker ${e.worker} crashed while ${e.phase === 'task' ? 'running a task' : e.phase === 'start' ? 'starting' : 'idle'}`,
      ),
    ),
  ];
}
