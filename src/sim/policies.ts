import { ConfigError, isConfigError } from '../core/errors.ts';
import { oneOf } from '../core/validate.ts';
import { createLimiter } from '../limiter/limiter.ts';
import type { AcquireOptions, LimiterOptions, Outcome, Permit, Priority } from '../limiter/types.ts';
import { aimd } from '../limits/aimd.ts';
import { gradient2 } from '../limits/gradient2.ts';
import type { Limit } from '../limits/limit.ts';
import { vegas } from '../limits/vegas.ts';
import { windowed } from '../limits/windowed.ts';
import { createRegulator, type RegulatorOptions } from '../regulator/regulator.ts';
import {
  nonePolicy,
  type PolicyContext,
  type PolicyFactory,
  rejection,
  type Settlement,
  type SimPolicy,
  staticPolicy,
} from './policy.ts';
import { isPlainObject, join, object } from './spec.ts';

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
 *
 * Component options are checked by the component itself; an option it never reads is reported as unknown.
 */
export const builtinPolicies: Readonly<Record<string, PolicyFactory>> = {
  none: nonePolicy,
  static: staticPolicy,
  limiter: limiterPolicy,
  regulator: regulatorPolicy,
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

/**
 * Builds a component from scenario options. A `ConfigError` it throws is re-thrown with the option's path
 * inside the scenario (the component's own prefix, such as `gradient2.`, replaced by `path`). The options are
 * first handed to a build whose result is discarded, behind proxies that note which keys (nested ones too)
 * the component reads: a key it never read is a misspelt or unknown option, and is reported as such.
 */
export function construct<T>(
  path: string,
  options: Record<string, unknown>,
  build: (options: Record<string, unknown>) => T,
  prefix = '',
): T {
  const read = new Set<string>();
  const rethrow = (error: unknown): never => {
    if (!isConfigError(error)) throw error;
    const own = prefix !== '' && error.option.startsWith(`${prefix}.`);
    throw new ConfigError(
      join(path, own ? error.option.slice(prefix.length + 1) : error.option),
      error.value,
      error.expected,
    );
  };
  try {
    build(watch(options, '', read));
  } catch (error) {
    rethrow(error);
  }
  unread(options, '', read, path);
  try {
    return build(options);
  } catch (error) {
    return rethrow(error);
  }
}

/** A view of `target` that records the dotted path of every key read, and watches nested plain objects. */
function watch(target: Record<string, unknown>, at: string, read: Set<string>): Record<string, unknown> {
  return new Proxy(target, {
    get(t, key, receiver) {
      const value: unknown = Reflect.get(t, key, receiver);
      if (typeof key !== 'string') return value;
      const here = at === '' ? key : `${at}.${key}`;
      read.add(here);
      return isPlainObject(value) ? watch(value, here, read) : value;
    },
  });
}

function unread(options: Record<string, unknown>, at: string, read: Set<string>, path: string): void {
  for (const [key, value] of Object.entries(options)) {
    const here = at === '' ? key : `${at}.${key}`;
    if (!read.has(here))
      throw new ConfigError(join(path, here), value, 'absent (an option this component does not have)');
    if (isPlainObject(value)) unread(value, here, read, path);
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
