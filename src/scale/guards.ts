import { ConfigError } from '../core/errors.ts';
import { integer, nonNegative, oneOf, positive } from '../core/validate.ts';
import { type CostPlan, describeSplit } from './cost.ts';
import { duration, num } from './format.ts';
import type { Clamp } from './types.ts';

/**
 * The guards that bound every proposal, each a pure function of the proposal and the controller's own
 * history. `applyGuards` runs them in this fixed order; each that changes the count adds a `Clamp`:
 *
 *  1. `stale`                   missing data: hold when every signal is stale; never scale down while any is
 *  2. `min` / `max`             the configured bounds
 *  3. `budget`                  at most the replicas the cost cap affords
 *     ── the count so far is the *recommendation* kept for stabilization ──
 *  4. `scaleUp.stabilization`   up:   the lowest recommendation over the scale-up window (HPA semantics)
 *     `scaleDown.stabilization` down: the highest recommendation over the scale-down window
 *  5. `rollback.hold`           a direction suppressed after a rollback
 *  6. `scaleUp.cooldown`        no scale-up until `cooldown.up` after the last scale-up
 *     `scaleDown.cooldown`      no scale-down until `cooldown.down` after the last change of either kind
 *  7. `scaleUp.rate`            rate-of-change policies, against the count at the start of each period
 *     `scaleDown.rate`
 *  8. `min` / `max`             again, in case the current count itself lies outside the bounds
 *
 * Guards 4–7 only ever move the count back towards the current one, so with the current count inside
 * [min, max] the result is too, and step 8 changes nothing.
 */

export type Direction = 'up' | 'down';

/** A guard's verdict: the count after it, and the clamp when it changed the count. */
export interface GuardStep {
  readonly replicas: number;
  readonly clamp: Clamp | undefined;
}

/** A rate-of-change policy, as in Kubernetes HPA `behavior`. */
export interface RatePolicy {
  /** `"pods"`: at most `value` replicas per period; `"percent"`: at most `value`% of the period's start. */
  readonly type: 'pods' | 'percent';
  /** Replicas or percent (> 0). */
  readonly value: number;
  /** Length of the period in ms (> 0). */
  readonly periodMs: number;
}

/**
 * Which policy wins when several are given: `"max"` allows the largest change, `"min"` the smallest, and
 * `"disabled"` forbids scaling in this direction.
 */
export type SelectPolicy = 'max' | 'min' | 'disabled';

/** Stabilization and rate limits for one direction. */
export interface ScalingRules {
  /**
   * Window (ms) over which recommendations are remembered. Scaling up goes only as high as the lowest
   * recommendation in the scale-up window; scaling down only as low as the highest in the scale-down
   * window. So a count is reached only once it was wanted for the whole window.
   * Default 0 for scale-up, 300000 (5 min) for scale-down.
   */
  readonly stabilizationWindowMs?: number;
  /**
   * Rate-of-change policies. An empty list sets no limit. Default for scale-up: 100% or 4 pods per 15 s,
   * whichever is more (`selectPolicy: "max"`); for scale-down: 100% per 15 s.
   */
  readonly policies?: readonly RatePolicy[];
  /** Default `"max"`. */
  readonly selectPolicy?: SelectPolicy;
}

/** Scale-up and scale-down rules, Kubernetes HPA `behavior` style; omitted fields take HPA's defaults. */
export interface Behavior {
  readonly scaleUp?: ScalingRules;
  readonly scaleDown?: ScalingRules;
}

export interface ResolvedRules {
  readonly stabilizationWindowMs: number;
  readonly policies: readonly RatePolicy[];
  readonly selectPolicy: SelectPolicy;
}

export interface ResolvedBehavior {
  readonly scaleUp: ResolvedRules;
  readonly scaleDown: ResolvedRules;
}

/** Per-direction waits after a change (ms). */
export interface Cooldown {
  /** After a scale-up, further scale-ups wait this long (the added capacity must show in the signals). Default 0. */
  readonly up?: number;
  /** After any change, a scale-down waits this long (never give back at once what was just added). Default 0. */
  readonly down?: number;
}

/** A recommendation remembered for stabilization. */
export interface Recommendation {
  readonly at: number;
  readonly replicas: number;
}

/** A change the controller made (and the actuator accepted). */
export interface Change {
  readonly at: number;
  readonly from: number;
  readonly to: number;
}

/** Signals older than the stale limit, and how many signals there are. */
export interface Staleness {
  readonly total: number;
  readonly stale: readonly { readonly name: string; readonly age: number }[];
  readonly limitMs: number;
}

/** A direction suppressed after a rollback. */
export interface DirectionHold {
  readonly direction: Direction;
  readonly until: number;
  /** Why, e.g. `"scaling up 4→8 did not help latency (300 → 420)"`. */
  readonly cause: string;
}

/** Kubernetes HPA's default behavior. */
export const defaultBehavior: ResolvedBehavior = Object.freeze({
  scaleUp: Object.freeze({
    stabilizationWindowMs: 0,
    policies: Object.freeze([
      Object.freeze({ type: 'percent', value: 100, periodMs: 15_000 }),
      Object.freeze({ type: 'pods', value: 4, periodMs: 15_000 }),
    ]),
    selectPolicy: 'max',
  }),
  scaleDown: Object.freeze({
    stabilizationWindowMs: 300_000,
    policies: Object.freeze([Object.freeze({ type: 'percent', value: 100, periodMs: 15_000 })]),
    selectPolicy: 'max',
  }),
}) as ResolvedBehavior;

/** Validates `behavior` (options named under `prefix`) and fills in HPA's defaults. */
export function resolveBehavior(behavior: Behavior | undefined, prefix = 'behavior'): ResolvedBehavior {
  if (behavior === undefined) return defaultBehavior;
  if (typeof behavior !== 'object' || behavior === null) throw new ConfigError(prefix, behavior, 'an object');
  return {
    scaleUp: resolveRules(behavior.scaleUp, defaultBehavior.scaleUp, `${prefix}.scaleUp`),
    scaleDown: resolveRules(behavior.scaleDown, defaultBehavior.scaleDown, `${prefix}.scaleDown`),
  };
}

function resolveRules(rules: ScalingRules | undefined, base: ResolvedRules, prefix: string): ResolvedRules {
  if (rules === undefined) return base;
  if (typeof rules !== 'object' || rules === null) throw new ConfigError(prefix, rules, 'an object');
  const window = rules.stabilizationWindowMs ?? base.stabilizationWindowMs;
  nonNegative(`${prefix}.stabilizationWindowMs`, window);
  if (!Number.isFinite(window)) {
    throw new ConfigError(`${prefix}.stabilizationWindowMs`, window, 'a finite number >= 0');
  }
  const policies = rules.policies ?? base.policies;
  if (!Array.isArray(policies)) throw new ConfigError(`${prefix}.policies`, policies, 'an array');
  const checked = policies.map((p: RatePolicy, i: number): RatePolicy => {
    const at = `${prefix}.policies[${i}]`;
    if (typeof p !== 'object' || p === null) throw new ConfigError(at, p, 'an object');
    return {
      type: oneOf(`${at}.type`, p.type, ['pods', 'percent']),
      value: p.type === 'pods' ? integer(`${at}.value`, p.value, 1) : positive(`${at}.value`, p.value),
      periodMs: positive(`${at}.periodMs`, p.periodMs),
    };
  });
  return {
    stabilizationWindowMs: window,
    policies: checked,
    selectPolicy: oneOf(`${prefix}.selectPolicy`, rules.selectPolicy ?? base.selectPolicy, [
      'max',
      'min',
      'disabled',
    ]),
  };
}

/** Validates a cooldown (ms per direction, default 0 each). */
export function resolveCooldown(cooldown: Cooldown | undefined, prefix = 'cooldown'): Required<Cooldown> {
  if (cooldown === undefined) return { up: 0, down: 0 };
  if (typeof cooldown !== 'object' || cooldown === null) throw new ConfigError(prefix, cooldown, 'an object');
  return {
    up: nonNegative(`${prefix}.up`, cooldown.up ?? 0),
    down: nonNegative(`${prefix}.down`, cooldown.down ?? 0),
  };
}

function step(guard: string, from: number, to: number, reason: string): GuardStep {
  return from === to
    ? { replicas: from, clamp: undefined }
    : { replicas: to, clamp: { guard, from, to, reason } };
}

const unchanged = (replicas: number): GuardStep => ({ replicas, clamp: undefined });

/** 1. Missing data. With every signal stale the count holds; with some stale it may grow but not shrink. */
export function freshness(replicas: number, current: number, staleness: Staleness): GuardStep {
  const { total, stale, limitMs } = staleness;
  if (total === 0) {
    return step(
      'stale',
      replicas,
      current,
      `no signals yet: holding at ${current}, never scaling on missing data`,
    );
  }
  if (stale.length === total) {
    const freshest = Math.min(...stale.map((s) => s.age));
    return step(
      'stale',
      replicas,
      current,
      `${total === 1 ? 'the only signal is stale (read' : `all ${total} signals are stale (the freshest read`} ` +
        `${duration(freshest)} ago, limit ${duration(limitMs)}): ` +
        `holding at ${current}, never scaling on missing data`,
    );
  }
  if (stale.length > 0 && replicas < current) {
    const list = stale.map((s) => `${s.name} ${duration(s.age)} old`).join(', ');
    return step(
      'stale',
      replicas,
      current,
      `scale-down to ${replicas} blocked at ${current}: ${stale.length} of ${total} signals stale ` +
        `(${list}; limit ${duration(limitMs)}), never scaling down on missing data`,
    );
  }
  return unchanged(replicas);
}

/** 2 and 8. The configured bounds. */
export function bounds(replicas: number, min: number, max: number): GuardStep {
  if (replicas > max) return step('max', replicas, max, `${replicas} above max ${max}`);
  if (replicas < min) return step('min', replicas, min, `${replicas} below min ${min}`);
  return unchanged(replicas);
}

/** 3. The cost cap: at most the replicas it affords. */
export function budget(replicas: number, plan: CostPlan): GuardStep {
  if (replicas <= plan.affordable) return unchanged(replicas);
  const wanted = plan.split(replicas);
  const afforded = plan.split(plan.affordable);
  return step(
    'budget',
    replicas,
    plan.affordable,
    `${replicas} replicas would cost ${num(wanted.spendPerHour)}/h over the cap of ` +
      `${num(wanted.maxSpendPerHour)}/h: ${plan.affordable} affordable (${describeSplit(afforded)})`,
  );
}

/**
 * 4. Stabilization, with Kubernetes HPA's semantics: over the recommendations made inside each window
 * (`at > now - window`, this one included), scaling up goes no higher than the lowest of the scale-up
 * window and scaling down no lower than the highest of the scale-down window. The result lies between
 * the current count and `replicas`.
 *
 * Consequence (property-tested): after a scale-up to N, every recommendation in the scale-down window
 * includes one >= N, so no scale-down happens inside that window; symmetrically for scale-downs.
 */
export function stabilize(
  replicas: number,
  current: number,
  now: number,
  history: readonly Recommendation[],
  behavior: ResolvedBehavior,
): GuardStep {
  if (replicas === current) return unchanged(replicas);
  const upWindow = behavior.scaleUp.stabilizationWindowMs;
  const downWindow = behavior.scaleDown.stabilizationWindowMs;
  let lowest = replicas;
  let highest = replicas;
  for (const r of history) {
    if (r.at > now - upWindow && r.replicas < lowest) lowest = r.replicas;
    if (r.at > now - downWindow && r.replicas > highest) highest = r.replicas;
  }
  if (replicas > current) {
    const to = Math.max(current, lowest);
    return step(
      'scaleUp.stabilization',
      replicas,
      to,
      `scale-up to ${replicas} held at ${to}: the lowest recommendation in the last ${duration(upWindow)} was ${lowest}`,
    );
  }
  const to = Math.min(current, highest);
  return step(
    'scaleDown.stabilization',
    replicas,
    to,
    `scale-down to ${replicas} held at ${to}: the highest recommendation in the last ${duration(downWindow)} was ${highest}`,
  );
}

/** 5. A direction suppressed after a rollback, until `hold.until`. */
export function held(
  replicas: number,
  current: number,
  now: number,
  hold: DirectionHold | undefined,
): GuardStep {
  if (hold === undefined || now >= hold.until) return unchanged(replicas);
  const direction: Direction | undefined =
    replicas > current ? 'up' : replicas < current ? 'down' : undefined;
  if (direction !== hold.direction) return unchanged(replicas);
  return step(
    'rollback.hold',
    replicas,
    current,
    `scale-${direction} to ${replicas} suppressed for ${duration(hold.until - now)} more: ${hold.cause}`,
  );
}

/**
 * 6. Cooldown. A scale-up waits `cooldown.up` after the last scale-up; a scale-down waits `cooldown.down`
 * after the last change of either kind. `lastUpAt`/`lastChangeAt` are `-Infinity` before any change.
 */
export function cooldown(
  replicas: number,
  current: number,
  now: number,
  last: { readonly upAt: number; readonly changeAt: number },
  wait: Required<Cooldown>,
): GuardStep {
  if (replicas > current) {
    const since = now - last.upAt;
    if (since >= wait.up) return unchanged(replicas);
    return step(
      'scaleUp.cooldown',
      replicas,
      current,
      `scale-up to ${replicas} waits: last scale-up ${duration(since)} ago, cooldown ${duration(wait.up)} ` +
        `(${duration(wait.up - since)} left)`,
    );
  }
  if (replicas < current) {
    const since = now - last.changeAt;
    if (since >= wait.down) return unchanged(replicas);
    return step(
      'scaleDown.cooldown',
      replicas,
      current,
      `scale-down to ${replicas} waits: last change ${duration(since)} ago, cooldown ${duration(wait.down)} ` +
        `(${duration(wait.down - since)} left)`,
    );
  }
  return unchanged(replicas);
}

/** The count at the start of a period of `periodMs` ending now, from the controller's changes (HPA's way). */
export function periodStart(
  current: number,
  now: number,
  changes: readonly Change[],
  periodMs: number,
): number {
  let start = current;
  for (const c of changes) if (c.at > now - periodMs) start -= c.to - c.from;
  return start;
}

/** Float slack so that 10% of 10 is 1 replica, not 1.0000000000000002 rounded up to 2. */
const EPSILON = 1e-9;

/** The replica limit one policy allows in `direction` from the count at the start of its period. */
function policyLimit(policy: RatePolicy, start: number, direction: Direction): number {
  const amount = policy.type === 'pods' ? policy.value : Math.ceil((start * policy.value) / 100 - EPSILON);
  return direction === 'up' ? start + amount : Math.max(0, start - amount);
}

interface RateLimit {
  readonly limit: number;
  /** Words for the winning policy, e.g. `"+4 pods per 15 s from 4"`. */
  readonly rule: string;
}

/**
 * The highest (scale-up) or lowest (scale-down) count the rate policies allow now. `"max"` picks the
 * policy allowing the largest change, `"min"` the smallest. Never beyond the current count the wrong
 * way; `undefined` when there is no limit (no policies).
 */
export function rateLimit(
  direction: Direction,
  current: number,
  now: number,
  changes: readonly Change[],
  rules: ResolvedRules,
): RateLimit | undefined {
  if (rules.selectPolicy === 'disabled') {
    return { limit: current, rule: `scale-${direction} disabled (selectPolicy "disabled")` };
  }
  // The largest change is the highest limit going up and the lowest going down.
  const higher = (direction === 'up') === (rules.selectPolicy === 'max');
  let best: RateLimit | undefined;
  for (const policy of rules.policies) {
    const start = periodStart(current, now, changes, policy.periodMs);
    const limit = policyLimit(policy, start, direction);
    const sign = direction === 'up' ? '+' : '-';
    const amount = policy.type === 'pods' ? `${sign}${policy.value} pods` : `${sign}${num(policy.value)}%`;
    const candidate = { limit, rule: `${amount} per ${duration(policy.periodMs)} from ${start}` };
    if (best === undefined || (higher ? limit > best.limit : limit < best.limit)) best = candidate;
  }
  if (best === undefined) return undefined;
  const limit = direction === 'up' ? Math.max(best.limit, current) : Math.min(best.limit, current);
  return { limit, rule: best.rule };
}

/** 7. Rate-of-change policies, per direction. */
export function rate(
  replicas: number,
  current: number,
  now: number,
  changes: readonly Change[],
  behavior: ResolvedBehavior,
): GuardStep {
  if (replicas > current) {
    const r = rateLimit('up', current, now, changes, behavior.scaleUp);
    if (r === undefined || replicas <= r.limit) return unchanged(replicas);
    return step(
      'scaleUp.rate',
      replicas,
      r.limit,
      `scale-up to ${replicas} limited to ${r.limit}: ${r.rule}`,
    );
  }
  if (replicas < current) {
    const r = rateLimit('down', current, now, changes, behavior.scaleDown);
    if (r === undefined || replicas >= r.limit) return unchanged(replicas);
    return step(
      'scaleDown.rate',
      replicas,
      r.limit,
      `scale-down to ${replicas} limited to ${r.limit}: ${r.rule}`,
    );
  }
  return unchanged(replicas);
}

/** Everything the guards read on one tick. */
export interface GuardContext {
  readonly now: number;
  /** The count now (the actuator's `desired`). */
  readonly current: number;
  readonly min: number;
  readonly max: number;
  readonly cost: CostPlan | undefined;
  /** `undefined` skips the missing-data guard (a controller without collectors). */
  readonly staleness: Staleness | undefined;
  readonly behavior: ResolvedBehavior;
  /** Earlier recommendations (this tick's is not included). */
  readonly recommendations: readonly Recommendation[];
  /** Changes made, oldest first. */
  readonly changes: readonly Change[];
  readonly cooldown: Required<Cooldown>;
  readonly last: { readonly upAt: number; readonly changeAt: number };
  readonly hold: DirectionHold | undefined;
}

export interface GuardResult {
  readonly replicas: number;
  /** The clamps, in the order they applied. */
  readonly clamps: readonly Clamp[];
  /** The count after guards 1–3: what stabilization remembers for later ticks. */
  readonly recommendation: number;
}

/** Runs the guards in their fixed order (see the top of this file). Pure. */
export function applyGuards(proposed: number, ctx: GuardContext): GuardResult {
  const clamps: Clamp[] = [];
  let replicas = proposed;
  const apply = (s: GuardStep): void => {
    replicas = s.replicas;
    if (s.clamp !== undefined) clamps.push(s.clamp);
  };
  if (ctx.staleness !== undefined) apply(freshness(replicas, ctx.current, ctx.staleness));
  apply(bounds(replicas, ctx.min, ctx.max));
  if (ctx.cost !== undefined) apply(budget(replicas, ctx.cost));
  const recommendation = replicas;
  apply(stabilize(replicas, ctx.current, ctx.now, ctx.recommendations, ctx.behavior));
  apply(held(replicas, ctx.current, ctx.now, ctx.hold));
  apply(cooldown(replicas, ctx.current, ctx.now, ctx.last, ctx.cooldown));
  apply(rate(replicas, ctx.current, ctx.now, ctx.changes, ctx.behavior));
  apply(bounds(replicas, ctx.min, ctx.max));
  return { replicas, clamps, recommendation };
}
