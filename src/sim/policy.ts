import type { Clock, Timer } from '../core/clock.ts';
import { ConfigError, isRejectedError } from '../core/errors.ts';
import { checkKeys, join, object } from '../core/spec.ts';
import { finite, integer, positive } from '../core/validate.ts';
import { Deque } from './deque.ts';
import type { DownstreamControl } from './downstream.ts';
import type { Random } from './random.ts';
import type { Answer, SimRequest } from './request.ts';

/**
 * Policies: what sits between the workload and the downstream. A policy is offered each attempt and
 * answers through a gate, at once or later: admit it (it goes to the downstream) or reject it with a
 * reason. When an admitted attempt ends for its caller, the policy is told how (`settle`), with the token it
 * gave at admission (a permit, say). Policies may use timers (`context.clock`), follow promises of the
 * real components they wrap (`context.track`), and act on the downstream (`context.downstream.scale`),
 * which is how autoscalers will plug in.
 *
 * A scenario's `policy` is one spec or an array of them: an array is a pipeline, where an attempt must pass
 * every stage in order (say, a breaker in front of a limiter).
 */
export interface PolicyGate {
  /** Lets the attempt through; `token` is handed back in `settle`. */
  admit(request: SimRequest, token?: unknown): void;
  /** Refuses the attempt. `retryAfterMs` is the hint a client may honour. */
  reject(request: SimRequest, reason: string, retryAfterMs?: number): void;
}

/**
 * How an admitted attempt ended: the downstream's answer, a timeout (the call timeout), or `"shed"` when
 * a later stage of a pipeline refused it after this stage had admitted it.
 */
export type Settlement = Answer | 'shed';

export interface SimPolicy {
  /** Short name for reports, e.g. `"limiter"`. */
  readonly name: string;
  /** Gauges the policy reports, fixed for the run (well-known: `limit`, `inflight`, `queued`, `rate`). */
  readonly gaugeNames: readonly string[];
  /** Offered one attempt; must call exactly one of `gate.admit` / `gate.reject`, now or later. */
  offer(request: SimRequest, gate: PolicyGate): void;
  /** An admitted attempt ended for its caller after `rtt` ms since admission. */
  settle(request: SimRequest, token: unknown, settlement: Settlement, rtt: number): void;
  /** Current gauge values, in the order of `gaugeNames` (NaN for none). */
  gauges(): readonly number[];
  /**
   * Microtask turns between a promise of the wrapped component settling and the policy's callback (see
   * `EngineOptions.settleRounds`): 1 for a component that resolves its promises directly. The run uses the
   * largest of its stages'. Default 3, which covers a component promise from an `async` function with one
   * more `await`.
   */
  readonly settleRounds?: number;
}

/** How an attempt ended for its caller (see `PolicyContext.hold`). */
export interface AttemptEnd {
  /** The attempt. */
  readonly request: SimRequest;
  /** The downstream's answer, `"timeout"` (the call timeout or the client's patience), or `"shed"`. */
  readonly answer: Answer | 'shed';
  /** Why it was shed (`"limit"`, `"circuit-open"`, ...); undefined unless `answer` is `"shed"`. */
  readonly reason: string | undefined;
  /** The retry-after hint of a refusal (ms); NaN for none. */
  readonly retryAfterMs: number;
}

export interface PolicyContext {
  /** The simulation's clock (virtual): give it to the components the policy wraps. */
  readonly clock: Clock;
  /** A random stream of the policy's own. */
  readonly random: Random;
  /** The downstream, for policies that scale it. */
  readonly downstream: DownstreamControl;
  /** Follows a promise; the callbacks run inside the simulation at the time it settles. */
  track<T>(promise: PromiseLike<T>, onValue: (value: T) => void, onError: (error: unknown) => void): void;
  /**
   * For policies that retry inside the caller's call (the `retry` type): the policy, not the client,
   * hears how the attempt `request` ends (`onEnd`, called once, at that time), and the client request stays
   * open until the policy sends another attempt (`retry`) or ends the call (`conclude`). Call it from
   * `offer`, before the attempt can end.
   */
  hold(request: SimRequest, onEnd: (end: AttemptEnd) => void): void;
  /**
   * Sends the next attempt of a held call whose attempt `request` has ended: a retry (`attempt + 1`, the
   * same client request, its work and its deadline), counted as one and offered to the whole policy now,
   * and held with `onEnd`. Returns the new attempt (the policy's `offer` sees it before this returns).
   */
  retry(request: SimRequest, onEnd: (end: AttemptEnd) => void): SimRequest;
  /**
   * Ends a held call with the outcome of its last attempt `request` (which has ended). The client then
   * acts as it would on that outcome: it is done, or its own `retry` (the workload's) sends a new call.
   */
  conclude(request: SimRequest): void;
}

/** Builds a policy from its scenario object (already checked to be an object with a `type`). */
export type PolicyFactory = (
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
) => SimPolicy;

/** Settle rounds assumed for a policy that does not say. */
export const DEFAULT_SETTLE_ROUNDS = 3;

/** Admits everything. */
export function nonePolicy(
  spec: Readonly<Record<string, unknown>>,
  _context: PolicyContext,
  path: string,
): SimPolicy {
  checkKeys(path, spec, ['type']);
  let inflight = 0;
  return {
    name: 'none',
    gaugeNames: ['inflight'],
    settleRounds: 1,
    offer(request, gate) {
      inflight++;
      gate.admit(request);
    },
    settle() {
      inflight--;
    },
    gauges: () => [inflight],
  };
}

/**
 * A fixed concurrency limit in front of an optional plain FIFO queue: the baseline that adaptive
 * policies are compared with. Attempts beyond `limit` (weighted) wait in the queue up to `queue` of them
 * (default 0: rejected at once, reason `"limit"`), for at most `timeout` ms (reason `"queue-timeout"`) and
 * never past their deadline (reason `"deadline"`); a full queue rejects the newcomer (`"queue-full"`).
 */
export function staticPolicy(
  spec: Readonly<Record<string, unknown>>,
  context: PolicyContext,
  path: string,
): SimPolicy {
  checkKeys(path, spec, ['type', 'limit', 'queue', 'timeout']);
  const limit = positive(join(path, 'limit'), spec['limit']);
  const size = spec['queue'] === undefined ? 0 : integer(join(path, 'queue'), spec['queue'], 0);
  const timeout =
    spec['timeout'] === undefined ? Infinity : finite(join(path, 'timeout'), spec['timeout'], 0);
  const clock = context.clock;
  interface Waiter {
    readonly request: SimRequest;
    readonly gate: PolicyGate;
    timer: Timer | undefined;
    done: boolean;
  }
  const queue = new Deque<Waiter>();
  let inflight = 0;
  let waiting = 0;

  const expire = (w: Waiter): void => {
    w.done = true;
    waiting--;
    const reason = w.request.deadline <= clock.now() ? 'deadline' : 'queue-timeout';
    w.gate.reject(w.request, reason);
  };
  const dispatch = (): void => {
    for (let w = queue.peek(); w !== undefined; w = queue.peek()) {
      if (w.done) {
        queue.shift();
        continue;
      }
      const weight = Math.min(w.request.weight, limit);
      if (inflight + weight > limit) return;
      queue.shift();
      w.done = true;
      w.timer?.cancel();
      waiting--;
      inflight += weight;
      w.gate.admit(w.request, weight);
    }
  };
  return {
    name: 'static',
    gaugeNames: ['limit', 'inflight', 'queued'],
    settleRounds: 1,
    offer(request, gate) {
      const weight = Math.min(request.weight, limit);
      if (waiting === 0 && inflight + weight <= limit) {
        inflight += weight;
        gate.admit(request, weight);
      } else if (size === 0) {
        gate.reject(request, 'limit');
      } else if (waiting >= size) {
        gate.reject(request, 'queue-full');
      } else {
        const w: Waiter = { request, gate, timer: undefined, done: false };
        const expiresAt = Math.min(clock.now() + timeout, request.deadline);
        if (expiresAt !== Infinity) w.timer = clock.setTimer(() => expire(w), expiresAt - clock.now());
        queue.push(w);
        waiting++;
      }
    },
    settle(_request, token) {
      inflight -= token as number;
      dispatch();
    },
    gauges: () => [limit, inflight, waiting],
  };
}

/** Runs attempts through `stages` in order; an attempt is admitted when the last stage admits it. */
export function pipeline(stages: readonly SimPolicy[]): SimPolicy {
  if (stages.length === 1) return stages[0]!;
  const n = stages.length;
  // Tokens of the stages an attempt has passed so far, until it is admitted or refused.
  const passing = new Map<SimRequest, { tokens: unknown[]; outer: PolicyGate }>();
  const gates: PolicyGate[] = stages.map((_, k) => ({
    admit(request, token) {
      const entry = passing.get(request)!;
      entry.tokens[k] = token;
      if (k + 1 < n) {
        stages[k + 1]!.offer(request, gates[k + 1]!);
      } else {
        passing.delete(request);
        entry.outer.admit(request, entry.tokens);
      }
    },
    reject(request, reason, retryAfterMs) {
      const entry = passing.get(request)!;
      passing.delete(request);
      for (let j = k - 1; j >= 0; j--) stages[j]!.settle(request, entry.tokens[j], 'shed', 0);
      entry.outer.reject(request, reason, retryAfterMs);
    },
  }));
  const names: string[] = [];
  const seen = new Set<string>();
  for (const s of stages) {
    for (const g of s.gaugeNames) {
      const name = seen.has(g) ? `${s.name}.${g}` : g;
      seen.add(name);
      names.push(name);
    }
  }
  return {
    name: stages.map((s) => s.name).join('+'),
    gaugeNames: names,
    settleRounds: Math.max(...stages.map((s) => s.settleRounds ?? DEFAULT_SETTLE_ROUNDS)),
    offer(request, gate) {
      passing.set(request, { tokens: new Array(n), outer: gate });
      stages[0]!.offer(request, gates[0]!);
    },
    settle(request, token, settlement, rtt) {
      const tokens = token as unknown[];
      for (let j = n - 1; j >= 0; j--) stages[j]!.settle(request, tokens[j], settlement, rtt);
    },
    gauges: () => stages.flatMap((s) => s.gauges()),
  };
}

/** Builds the policy of a scenario (`undefined` is `{ type: "none" }`). */
export function buildPolicy(
  spec: unknown,
  path: string,
  context: PolicyContext,
  factories: Readonly<Record<string, PolicyFactory>>,
): SimPolicy {
  if (spec === undefined) return nonePolicy({ type: 'none' }, context, path);
  const list = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0) throw new ConfigError(path, spec, 'a policy object or a non-empty array of them');
  return pipeline(
    list.map((s, i) => {
      const p = Array.isArray(spec) ? `${path}[${i}]` : path;
      const o = object(p, s, 'a policy object ({ type, ... })');
      const type = o['type'];
      const factory =
        typeof type === 'string' && Object.hasOwn(factories, type) ? factories[type] : undefined;
      if (factory === undefined) {
        throw new ConfigError(
          join(p, 'type'),
          type,
          `one of ${Object.keys(factories)
            .map((k) => JSON.stringify(k))
            .join(', ')}`,
        );
      }
      return factory(o, context, p);
    }),
  );
}

/** The retry-after hint and reason of a rejection thrown by a sluice component. */
export function rejection(error: unknown): { reason: string; retryAfterMs: number } {
  if (isRejectedError(error)) return { reason: error.reason, retryAfterMs: error.retryAfterMs };
  throw error;
}
