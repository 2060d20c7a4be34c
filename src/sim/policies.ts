import { ConfigError } from '../core/errors.ts';
import { join, object } from '../core/spec.ts';
import { oneOf } from '../core/validate.ts';
import { createLimiter } from '../limiter/limiter.ts';
import type { AcquireOptions, LimiterOptions, Outcome, Permit, Priority } from '../limiter/types.ts';
import { aimd } from '../limits/aimd.ts';
import { gradient2 } from '../limits/gradient2.ts';
import type { Limit } from '../limits/limit.ts';
import { vegas } from '../limits/vegas.ts';
import { windowed } from '../limits/windowed.ts';
import { createRegulator, type RegulatorOptions } from '../regulator/regulator.ts';
import { autoscalePolicy } from './autoscale.ts';
import { construct } from './construct.ts';
import { breakerPolicy, retryPolicy } from './fault-policies.ts';
import {
  nonePolicy,
  type PolicyContext,
  type PolicyFactory,
  rejection,
  type Settlement,
  type SimPolicy,
  staticPolicy,
} from './policy.ts';

/**
 * The built-in policy types. Those named after a sluice component run that very component on the
 * simulation's clock; their options are the component's own options (minus `clock`).
 *
 * - `none`: admits everything.
 * - `static`: `{ limit, queue?, timeout? }`, a fixed concurrency limit with a plain FIFO queue.
 * - `limiter`: `createLimiter` options (`name`, `limit`, `queue`, `priorities`, `partitions`). `limit` is a
 *   number (a fixed limit) or `{ algorithm, ...options }` with algorithm `gradient2` (the default), `vegas`,
 *   `aimd` or `windowed` (which takes the algorithm it wraps as `limit`), and that algorithm's own numeric
 *   and boolean options. An attempt acquires with its priority, weight, key, partition and deadline; its
 *   permit is released as a success, a drop (overload, timeout) or ignored (error).
 * - `regulator`: `createRegulator` options (`rate`, `min`, `max`, `burst`, `increase`, `backoff`, `interval`,
 *   `tolerance`, `baselineIntervals`, `queue`). An attempt takes `weight` tokens; its outcome is recorded.
 * - `breaker`: `createBreaker` options. Refuses attempts (reason `"circuit-open"`) while the breaker is
 *   open; overload, errors and timeouts count as failures (see `breakerPolicy`).
 * - `retry`: `createRetry` inside the caller's call, with `attempts`, `backoff`, `budget` (see
 *   `retryPolicy`). Each retry is a new attempt at the stages after it and at the downstream; the client
 *   waits for the whole call.
 * - `autoscale`: sluice's autoscaler (`createAutoscaler`) scaling the downstream's replicas, with a
 *   `preset` (`"sluice"`, `"hpa"` for the Kubernetes HPA baseline, `"static"`) and overrides (see
 *   `autoscale.ts`). It admits every attempt; put it first in a pipeline.
 *
 * A pipeline in the order of `guard()`, `[{ type: "retry" }, { type: "breaker" }, { type: "limiter" }]`,
 * runs the guard's policies (the downstream's `timeout` plays the guard's per-attempt timeout).
 *
 * Two kinds of retry. The workload's `retry` option models naive clients: each failed call is sent again
 * on a fixed schedule, whatever the load, as a fresh call through the whole policy. The `retry` policy
 * is sluice's own retry inside the call, bounded by its budget: under an outage, the first kind multiplies
 * the load by its attempts, the second adds at most the budget's ratio (plus its small floor).
 *
 * Component options are checked by the component itself; an option it never reads is reported as unknown.
 */
export const builtinPolicies: Readonly<Record<string, PolicyFactory>> = {
  none: nonePolicy,
  static: staticPolicy,
  limiter: limiterPolicy,
  regulator: regulatorPolicy,
  breaker: breakerPolicy,
  retry: retryPolicy,
  autoscale: autoscalePolicy,
};

/** How a settlement teaches a sluice component: overload signals are drops; others teach nothing. */
export function outcomeOf(settlement: Settlement): Outcome {
  switch (settlement) {
    case 'success':
      return 'success';
    case 'overload':
    case 'timeout':
      return 'dropped';
    default:
      return 'ignore';
  }
}

type AlgorithmFactory = (options: Record<string, unknown>, path: string) => Limit;

const algorithms: Readonly<Record<string, AlgorithmFactory>> = {
  gradient2: (o, p) => construct(p, o, (x) => gradient2(x), 'gradient2'),
  vegas: (o, p) => construct(p, o, (x) => vegas(x), 'vegas'),
  aimd: (o, p) => construct(p, o, (x) => aimd(x), 'aimd'),
  windowed: (o, p) => {
    const { limit, ...rest } = o;
    const inner = limitOf(limit ?? { algorithm: 'gradient2' }, join(p, 'limit'));
    if (typeof inner === 'number')
      throw new ConfigError(join(p, 'limit'), limit, 'an adaptive algorithm { algorithm, ... }');
    return construct(p, rest, (x) => windowed(inner, x), 'windowed');
  },
};

/** A limit as scenarios give it: a number (fixed) or `{ algorithm, ...options }`. */
function limitOf(spec: unknown, path: string): Limit | number {
  if (typeof spec === 'number') return spec;
  const o = object(path, spec, 'a number (a fixed limit) or { algorithm, ...options }');
  const { algorithm = 'gradient2', ...options } = o;
  const name = oneOf(join(path, 'algorithm'), algorithm, Object.keys(algorithms));
  return algorithms[name]!(options, path);
}

function limiterPolicy(
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
): SimPolicy {
  const { type: _type, limit, ...rest } = spec;
  const options: Record<string, unknown> = { ...rest, clock: context.clock };
  // Each build gets a limit of its own: a limiter subscribes to its limit's changes, and the checking build
  // must not stay subscribed to the limit the real one uses. (Built once first, for its errors' paths.)
  if (limit !== undefined) limitOf(limit, join(path, 'limit'));
  const build = (o: Record<string, unknown>) => {
    const own = limit === undefined ? undefined : limitOf(limit, join(path, 'limit'));
    const withLimit = new Proxy(o, { get: (t, k, r) => (k === 'limit' ? own : Reflect.get(t, k, r)) });
    return createLimiter(withLimit as LimiterOptions);
  };
  const limiter = construct(path, options, build);
  // One options object, refilled per attempt: the limiter reads it synchronously and keeps none of it.
  const acquire: {
    priority: Priority | undefined;
    weight: number;
    key: string | undefined;
    partition: string | undefined;
    deadline: number | undefined;
  } = { priority: undefined, weight: 1, key: undefined, partition: undefined, deadline: undefined };
  const ask = acquire as unknown as AcquireOptions;
  return {
    name: 'limiter',
    gaugeNames: ['limit', 'inflight', 'queued'],
    // The limiter resolves and rejects its waiters' promises directly: one turn to the callback.
    settleRounds: 1,
    offer(request, gate) {
      acquire.priority = request.priority as Priority | undefined;
      acquire.weight = request.weight;
      acquire.key = request.key;
      acquire.partition = request.partition;
      acquire.deadline = request.deadline === Infinity ? undefined : request.deadline;
      const permit = limiter.tryAcquire(ask);
      if (permit !== undefined) {
        gate.admit(request, permit);
        return;
      }
      context.track(
        limiter.acquire(ask),
        (p) => gate.admit(request, p),
        (error) => {
          const r = rejection(error);
          gate.reject(request, r.reason, r.retryAfterMs);
        },
      );
    },
    settle(_request, token, settlement) {
      (token as Permit).release(outcomeOf(settlement));
    },
    gauges: () => [limiter.limit, limiter.inflight, limiter.queued],
  };
}

function regulatorPolicy(
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
): SimPolicy {
  const { type: _type, ...rest } = spec;
  const options: Record<string, unknown> = { ...rest, clock: context.clock };
  const regulator = construct(path, options, (o) => createRegulator(o as RegulatorOptions));
  let inflight = 0;
  return {
    name: 'regulator',
    gaugeNames: ['rate', 'tokens', 'queued', 'inflight'],
    settleRounds: 1,
    offer(request, gate) {
      const cost = request.weight;
      if (regulator.tryTake(cost)) {
        inflight++;
        gate.admit(request);
        return;
      }
      context.track(
        regulator.take(cost, request.deadline === Infinity ? undefined : { deadline: request.deadline }),
        () => {
          inflight++;
          gate.admit(request);
        },
        (error) => {
          const r = rejection(error);
          gate.reject(request, r.reason, r.retryAfterMs);
        },
      );
    },
    settle(_request, _token, settlement, rtt) {
      inflight--;
      if (settlement !== 'shed') regulator.record(outcomeOf(settlement), rtt);
    },
    gauges: () => [regulator.rate, regulator.tokens, regulator.queued, inflight],
  };
}
