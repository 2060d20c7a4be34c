import { ConfigError } from '../core/errors.ts';
import { type Backend, MetricSet, type Tracking, type TrackOptions } from './core.ts';
import { kindOf } from './kinds.ts';
import {
  type PriorityNames,
  type TrackedAutoscaler,
  type TrackedBatcher,
  type TrackedBreaker,
  type TrackedLimiter,
  type TrackedPool,
  type TrackedPressure,
  type TrackedRegulator,
  type TrackedRetry,
  type TrackedServer,
  type TrackedThrottle,
  trackAutoscaler,
  trackBatcher,
  trackBreaker,
  trackLimiter,
  trackPool,
  trackPressure,
  trackRegulator,
  trackRetry,
  trackServer,
  trackThrottle,
} from './trackers.ts';

/** Track options for components whose rejections carry a priority. */
export interface PriorityTrackOptions extends TrackOptions, PriorityNames {}

/** A degrader (from `sluice`): its pressure meter is tracked. */
export interface TrackedDegrader {
  readonly name: string;
  readonly meter: TrackedPressure;
}

/** Anything `track()` takes. */
export type Trackable =
  | TrackedAutoscaler
  | TrackedServer
  | TrackedLimiter
  | TrackedBreaker
  | TrackedThrottle
  | TrackedRegulator
  | TrackedPool
  | TrackedBatcher
  | TrackedRetry
  | TrackedDegrader
  | TrackedPressure;

/**
 * The tracking API, the same for the Prometheus exporter and the OpenTelemetry bridge. Each `track*` call
 * adds one instance, labelled `name` (default the instance's own name); it returns a handle that stops
 * tracking it. Tracking two instances of a kind under the same name and labels throws a `ConfigError`.
 */
export interface SluiceMetrics {
  /** Limit, in flight, queue depth and age, standing queue, waiting time, rejections, limit changes. */
  trackLimiter(limiter: TrackedLimiter, options?: PriorityTrackOptions): Tracking;
  /** State, window failure and slow-call ratios, transitions, rejections. */
  trackBreaker(breaker: TrackedBreaker, options?: TrackOptions): Tracking;
  /** Rate, tokens, queue depth, rejections, rate changes. */
  trackRegulator(regulator: TrackedRegulator, options?: TrackOptions): Tracking;
  /** Score, level, each signal's contribution, level changes of a `PressureMeter`. */
  trackPressure(meter: TrackedPressure, options?: TrackOptions): Tracking;
  /** A `ServerProtection`: its limiter, requests by route and outcome, process pressure and load. */
  trackServer(server: TrackedServer, options?: PriorityTrackOptions): Tracking;
  /** A worker pool: size, ready, workers by state, queue, rejections, crashes. */
  trackPool(pool: TrackedPool, options?: TrackOptions): Tracking;
  /** Replicas desired and actual, signals, decisions by rule, clamps and errors of an autoscaler. */
  trackAutoscaler(autoscaler: TrackedAutoscaler, options?: TrackOptions): Tracking;
  /** Target size, buffered and in-flight items, flush sizes and durations, rejections of a batcher. */
  trackBatcher(batcher: TrackedBatcher, options?: TrackOptions): Tracking;
  /** Local rejection probability and rejections by priority of a client-side throttle. */
  trackThrottle(throttle: TrackedThrottle, options?: PriorityTrackOptions): Tracking;
  /** Retries and give-ups of a retry policy. */
  trackRetry(retry: TrackedRetry, options?: TrackOptions): Tracking;
  /**
   * Tracks any of the above, telling its kind by its methods; a degrader is tracked by its pressure meter.
   * Throws a `ConfigError` for anything else.
   */
  track(component: Trackable, options?: PriorityTrackOptions): Tracking;
  /** Stops every tracking and unregisters every instrument it made. */
  close(): void;
}

/** The shared implementation: an exporter supplies the backend. */
export class Tracker implements SluiceMetrics {
  readonly #set: MetricSet;

  constructor(backend: Backend) {
    this.#set = new MetricSet(backend);
  }

  trackLimiter(limiter: TrackedLimiter, options?: PriorityTrackOptions): Tracking {
    return this.#set.track(limiter.name, options, (scope) =>
      trackLimiter(scope, limiter, priorities(options)),
    );
  }

  trackBreaker(breaker: TrackedBreaker, options?: TrackOptions): Tracking {
    return this.#set.track(breaker.name, options, (scope) => trackBreaker(scope, breaker));
  }

  trackRegulator(regulator: TrackedRegulator, options?: TrackOptions): Tracking {
    return this.#set.track(regulator.name, options, (scope) => trackRegulator(scope, regulator));
  }

  trackPressure(meter: TrackedPressure, options?: TrackOptions): Tracking {
    return this.#set.track(meter.name, options, (scope) => trackPressure(scope, meter));
  }

  trackServer(server: TrackedServer, options?: PriorityTrackOptions): Tracking {
    return this.#set.track(server.limiter.name, options, (scope) =>
      trackServer(scope, server, priorities(options)),
    );
  }

  trackPool(pool: TrackedPool, options?: TrackOptions): Tracking {
    return this.#set.track(pool.name, options, (scope) => trackPool(scope, pool));
  }

  trackAutoscaler(autoscaler: TrackedAutoscaler, options?: TrackOptions): Tracking {
    return this.#set.track(autoscaler.name, options, (scope) => trackAutoscaler(scope, autoscaler));
  }

  trackBatcher(batcher: TrackedBatcher, options?: TrackOptions): Tracking {
    return this.#set.track(batcher.name, options, (scope) => trackBatcher(scope, batcher));
  }

  trackThrottle(throttle: TrackedThrottle, options?: PriorityTrackOptions): Tracking {
    return this.#set.track(throttle.name, options, (scope) =>
      trackThrottle(scope, throttle, priorities(options)),
    );
  }

  trackRetry(retry: TrackedRetry, options?: TrackOptions): Tracking {
    return this.#set.track(retry.name, options, (scope) => trackRetry(scope, retry));
  }

  track(component: Trackable, options?: PriorityTrackOptions): Tracking {
    const c = component as never;
    switch (kindOf(component)) {
      case 'autoscaler':
        return this.trackAutoscaler(c, options);
      case 'server':
        return this.trackServer(c, options);
      case 'limiter':
        return this.trackLimiter(c, options);
      case 'breaker':
        return this.trackBreaker(c, options);
      case 'throttle':
        return this.trackThrottle(c, options);
      case 'regulator':
        return this.trackRegulator(c, options);
      case 'pool':
        return this.trackPool(c, options);
      case 'batcher':
        return this.trackBatcher(c, options);
      case 'retry':
        return this.trackRetry(c, options);
      case 'degrader': {
        const d = component as TrackedDegrader;
        return this.trackPressure(d.meter, { name: d.name, ...options });
      }
      case 'pressure':
        return this.trackPressure(c, options);
      case undefined:
        throw new ConfigError(
          'component',
          component,
          'a limiter, breaker, throttle, regulator, retry policy, pressure meter, degrader, server protection, pool, batcher or autoscaler',
        );
    }
  }

  close(): void {
    this.#set.close();
  }

  /** @internal See `MetricSet.startCollection`; for the dashboard's sampler. */
  startCollection(): void {
    this.#set.startCollection();
  }
}

function priorities(options: PriorityTrackOptions | undefined): PriorityNames {
  const p = options?.priorities;
  if (p === undefined) return {};
  if (!Array.isArray(p) || p.some((n) => typeof n !== 'string'))
    throw new ConfigError('priorities', p, 'an array of level names, most important first');
  return { priorities: p };
}
