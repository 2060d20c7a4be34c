import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { Events } from '../core/events.ts';
import { func, integer, nonNegative, oneOf, or, positive } from '../core/validate.ts';
import { SignalAnalyser, type SignalAnalyserOptions } from './analyse.ts';
import { type CostOptions, type CostPlan, type CostSplit, costPlan } from './cost.ts';
import { duration, num } from './format.ts';
import {
  applyGuards,
  type Behavior,
  bounds,
  budget,
  type Change,
  type Cooldown,
  type GuardResult,
  type Recommendation,
  type ResolvedBehavior,
  resolveBehavior,
  resolveCooldown,
  type Staleness,
} from './guards.ts';
import { Ring, summarize } from './record.ts';
import { type RollbackOptions, type RollbackRecord, RollbackWatch } from './rollback.ts';
import { SignalSet, type SignalTracker, type StaleSignal } from './signal-set.ts';
import type {
  Actuator,
  Capacity,
  Clamp,
  Collector,
  Decision,
  PolicyInput,
  Proposal,
  Readings,
  ScaleMode,
  ScalingPolicy,
  Signal,
} from './types.ts';
import { WarmUp } from './warmup.ts';

/**
 * The autoscaler's controller: the slow loop of sluice. On each tick it reads the capacity and every
 * collector at once (all bounded by `collectTimeout`), feeds the readings to one analyser per signal, asks
 * every policy for a replica count, takes the largest, bounds it with the guards (guards.ts lists their
 * fixed order), records the decision, and — in live or shadow mode — hands the count to the actuator.
 * Ticks run on the injected clock, never overlap, and never touch the request path.
 */

/** A pino-compatible logger (`logger.info(object, message)`). */
export interface AutoscalerLogger {
  info(record: object, message?: string): void;
  warn(record: object, message?: string): void;
}

/** A candidate policy set that runs beside the live one: recorded and compared, never acted on. */
export interface ShadowOptions {
  readonly policies: readonly ScalingPolicy[];
  /** The candidate's behavior. Default the live `behavior`. */
  readonly behavior?: Behavior;
}

export interface AutoscalerOptions {
  /** Names the autoscaler in decisions, events and logs. Default the actuator's name. */
  readonly name?: string;
  /** Where readings come from; names must be unique. May be empty (policies that need no signals). */
  readonly collectors: readonly Collector[];
  /** Deciders, at least one; the largest proposal wins. */
  readonly policies: readonly ScalingPolicy[];
  /** Reports the capacity and applies the decided count. */
  readonly actuator: Actuator;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Time between ticks once started (ms). Default 15000, as the Kubernetes HPA. */
  readonly interval?: number;
  /** Fewest replicas, an integer >= 0. Default 1. */
  readonly min?: number;
  /** Most replicas, an integer >= min. Required. */
  readonly max: number;
  /**
   * Stabilization windows and rate-of-change policies per direction, as Kubernetes HPA `behavior` (times
   * in ms). Omitted fields take the HPA's defaults: scale up at once by 100% or 4 pods per 15 s, whichever
   * is more; scale down by up to 100% per 15 s after a 5-minute stabilization window.
   */
  readonly behavior?: Behavior;
  /** Waits after a change (ms): `up` after a scale-up before the next one, `down` after any change. Default none. */
  readonly cooldown?: Cooldown;
  /**
   * Replicas that became ready less than `warmup` ms ago are left out of `counted`, so capacity still
   * warming up is not taken for idle capacity. Readiness is observed at ticks. Default 0.
   */
  readonly warmup?: number;
  /** A spend cap per hour, with an optional preemptible share; every decision reports its split. */
  readonly cost?: CostOptions;
  /**
   * `"live"` acts; `"dry-run"` decides and records but changes nothing; `"shadow"` acts like live and runs
   * the `shadow` candidate beside it. Default `"shadow"` when `shadow` is given, else `"live"`.
   */
  readonly mode?: ScaleMode;
  /** A candidate recorded beside the live decision (mode `"shadow"` or `"dry-run"`). */
  readonly shadow?: ShadowOptions;
  /** Revert a scale step that made its target signal worse. Default off. */
  readonly rollback?: RollbackOptions;
  /**
   * Deadline for reading the capacity and all collectors (ms); a late collector counts as failed and its
   * signals go stale. Default `min(interval / 2, 10000)`.
   */
  readonly collectTimeout?: number;
  /** Deadline for the actuator to accept a count (ms). Default 10000. */
  readonly scaleTimeout?: number;
  /**
   * A signal whose latest reading is older than this (ms) is stale. With every signal stale the controller
   * holds; with any stale it never scales down. Default 3 intervals.
   */
  readonly staleAfter?: number;
  /** Forecast horizon (ms) for the default analysers: how long new capacity takes to be ready. Default 30000. */
  readonly horizon?: number;
  /**
   * Options for the default `SignalAnalyser` (its `horizon` is the option above), or a factory of one
   * tracker per signal name.
   */
  readonly analyser?: Omit<SignalAnalyserOptions, 'horizon'> | ((name: string) => SignalTracker);
  /** Decisions kept in `decisions`. Default 100. */
  readonly records?: number;
  /** Gets every decision as a structured record: `info`, or `warn` when something failed or was rolled back. */
  readonly logger?: AutoscalerLogger;
}

/** The shadow candidate's answer on one tick. */
export interface ShadowDecision {
  readonly proposals: readonly Proposal[];
  readonly rule: string;
  readonly proposed: number;
  readonly clamps: readonly Clamp[];
  readonly replicas: number;
  /** Candidate minus live replicas. */
  readonly difference: number;
}

/** The common decision record with what this controller adds. */
export interface AutoscaleDecision extends Decision {
  readonly autoscaler: string;
  /**
   * What failed this tick: collectors by name, and the actuator as `"capacity:<name>"`, policies as
   * `"policy:<name>"`.
   */
  readonly failures: readonly { readonly collector: string; readonly message: string }[];
  /** Ready replicas out of warm-up, as the policies saw them. */
  readonly counted: number;
  /** Names of the signals older than `staleAfter`. */
  readonly stale: readonly string[];
  /** The tiers and spend of `replicas`, with a cost budget. */
  readonly cost: CostSplit | undefined;
  /** The candidate's answer, with a shadow candidate. */
  readonly shadow: ShadowDecision | undefined;
  /** Set when this decision reverted a step. */
  readonly rollback: RollbackRecord | undefined;
}

/**
 * Where an `error` event came from: the actuator's capacity or scale call, a collector, a policy, or a
 * tick that failed as a whole (a bug: an analyser or the controller itself threw; the loop goes on).
 */
export type AutoscalerErrorStage = 'capacity' | 'collect' | 'policy' | 'scale' | 'tick';

export interface AutoscalerEvents {
  /** Every decision (`sluice:scale:decision`). */
  readonly decision: AutoscaleDecision;
  /** The actuator accepted a new count (`sluice:scale:scale`). */
  readonly scale: {
    readonly autoscaler: string;
    readonly at: number;
    readonly seq: number;
    readonly from: number;
    readonly to: number;
    readonly rule: string;
  };
  /** A step was reverted (`sluice:scale:rollback`). */
  readonly rollback: RollbackRecord & {
    readonly autoscaler: string;
    readonly at: number;
    readonly seq: number;
  };
  /** The shadow candidate disagreed with the live decision (`sluice:scale:shadow`). */
  readonly shadow: {
    readonly autoscaler: string;
    readonly at: number;
    readonly seq: number;
    readonly live: number;
    readonly candidate: number;
    readonly difference: number;
    readonly rule: string;
  };
  /** A collector, a policy or the actuator failed (`sluice:scale:error`). */
  readonly error: {
    readonly autoscaler: string;
    readonly at: number;
    readonly seq: number;
    readonly stage: AutoscalerErrorStage;
    /** The collector's, policy's or actuator's name. */
    readonly source: string;
    readonly message: string;
    readonly error: unknown;
  };
}

export interface Autoscaler {
  readonly name: string;
  readonly mode: ScaleMode;
  /** True between `start()` and `stop()`. */
  readonly running: boolean;
  /** Ticks now and then every `interval`, a tick never starting before the previous one ended. Idempotent. */
  start(): void;
  /** Schedules no more ticks; resolves once a tick in flight has finished (acting included). */
  stop(): Promise<void>;
  /** Runs one tick now and resolves with its decision; a call while a tick is in flight shares that tick. */
  tick(): Promise<AutoscaleDecision>;
  /** Recent decisions, oldest first (at most `records`). */
  readonly decisions: readonly AutoscaleDecision[];
  /** Typed events (also on diagnostics_channel `sluice:scale:<event>`). */
  on<K extends keyof AutoscalerEvents & string>(
    name: K,
    listener: (event: AutoscalerEvents[K]) => void,
  ): () => void;
}

/** Creates an autoscaler; call `start()` to run it, or drive it with `tick()`. Invalid options throw a `ConfigError`. */
export function createAutoscaler(options: AutoscalerOptions): Autoscaler {
  return new Controller(options);
}

/** Histories are pruned by time; this caps them too, for ticks driven faster than any window. */
const HISTORY_CAP = 10_000;

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * Runs `fn` and settles with its outcome, or with the signal's reason once the signal aborts. A callee
 * that ignores the signal is left behind: its late result is dropped.
 */
function settle<T>(fn: () => T | PromiseLike<T>, signal: AbortSignal): Promise<Settled<T>> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: Settled<T>): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = (): void => finish({ ok: false, error: signal.reason });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      Promise.resolve(fn()).then(
        (value) => finish({ ok: true, value }),
        (error: unknown) => finish({ ok: false, error }),
      );
    } catch (error) {
      finish({ ok: false, error });
    }
  });
}

/** An AbortController that aborts with a `TimeoutError` after `ms` on `clock`; `done()` cancels the timer. */
function deadline(clock: Clock, ms: number): { readonly signal: AbortSignal; done(): void } {
  const abort = new AbortController();
  const timer = clock.setTimer(
    () => abort.abort(new DOMException(`timed out after ${duration(ms)}`, 'TimeoutError')),
    ms,
    { ref: false },
  );
  return { signal: abort.signal, done: () => timer.cancel() };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The winning proposal (the largest; the first on a tie), or `undefined` when none had an opinion. */
function largest(proposals: readonly Proposal[]): Proposal | undefined {
  let best: Proposal | undefined;
  for (const p of proposals) if (best === undefined || p.replicas > best.replicas) best = p;
  return best;
}

/** Drops entries at or before `after`, and beyond the cap. */
function prune<T extends { readonly at: number }>(history: T[], after: number): void {
  let drop = 0;
  while (drop < history.length && history[drop]!.at <= after) drop++;
  drop = Math.max(drop, history.length - HISTORY_CAP);
  if (drop > 0) history.splice(0, drop);
}

function longestPeriod(behavior: ResolvedBehavior): number {
  let longest = 0;
  for (const p of behavior.scaleUp.policies) longest = Math.max(longest, p.periodMs);
  for (const p of behavior.scaleDown.policies) longest = Math.max(longest, p.periodMs);
  return longest;
}

function longestWindow(behavior: ResolvedBehavior): number {
  return Math.max(behavior.scaleUp.stabilizationWindowMs, behavior.scaleDown.stabilizationWindowMs);
}

function checkPolicies(option: string, policies: unknown): readonly ScalingPolicy[] {
  if (!Array.isArray(policies) || policies.length === 0) {
    throw new ConfigError(option, policies, 'a non-empty array of scaling policies');
  }
  for (const [i, p] of policies.entries()) {
    if (typeof p !== 'object' || p === null || typeof p.propose !== 'function') {
      throw new ConfigError(`${option}[${i}]`, p, 'a scaling policy (an object with propose())');
    }
  }
  return [...policies];
}

function checkCollectors(collectors: unknown): readonly Collector[] {
  if (!Array.isArray(collectors)) throw new ConfigError('collectors', collectors, 'an array of collectors');
  const names = new Set<string>();
  for (const [i, c] of collectors.entries()) {
    if (
      typeof c !== 'object' ||
      c === null ||
      typeof c.collect !== 'function' ||
      typeof c.name !== 'string'
    ) {
      throw new ConfigError(`collectors[${i}]`, c, 'a collector (an object with a name and collect())');
    }
    if (names.has(c.name))
      throw new ConfigError(`collectors[${i}].name`, c.name, 'unique among the collectors');
    names.add(c.name);
  }
  return [...collectors];
}

function isCapacity(c: unknown): c is Capacity {
  if (typeof c !== 'object' || c === null) return false;
  const { desired, ready } = c as Capacity;
  return Number.isInteger(desired) && desired >= 0 && Number.isInteger(ready) && ready >= 0;
}

type Failure = { readonly collector: string; readonly message: string };

/** What one tick has gathered before deciding. */
interface Tick {
  readonly seq: number;
  readonly at: number;
  readonly failures: Failure[];
  readonly readings: Record<string, Readings>;
  readonly signals: ReadonlyMap<string, Signal>;
  readonly stale: readonly StaleSignal[];
  /** Records a failure in the decision and emits `error`. */
  fail(stage: AutoscalerErrorStage, source: string, error: unknown): void;
}

interface Candidate {
  readonly policies: readonly ScalingPolicy[];
  readonly behavior: ResolvedBehavior;
  /** Its own recommendations for stabilization; changes and cooldowns are the live ones. */
  readonly recommendations: Recommendation[];
}

class Controller implements Autoscaler {
  readonly name: string;
  readonly mode: ScaleMode;
  readonly #clock: Clock;
  readonly #events = new Events<AutoscalerEvents>('scale');
  readonly #collectors: readonly Collector[];
  readonly #actuator: Actuator;
  readonly #interval: number;
  readonly #min: number;
  readonly #max: number;
  readonly #cooldown: Required<Cooldown>;
  readonly #cost: CostPlan | undefined;
  readonly #live: Candidate;
  readonly #shadow: Candidate | undefined;
  readonly #rollback: RollbackWatch | undefined;
  readonly #collectTimeout: number;
  readonly #scaleTimeout: number;
  readonly #staleAfter: number;
  readonly #signals: SignalSet;
  readonly #warm: WarmUp;
  readonly #logger: AutoscalerLogger | undefined;
  readonly #records: Ring<AutoscaleDecision>;

  #seq = 0;
  /** The last capacity read, for the record of a tick that could not read it. */
  #capacity: Capacity | undefined;
  // Changes the actuator accepted, for rate limits and cooldowns.
  readonly #changes: Change[] = [];
  #lastUpAt = Number.NEGATIVE_INFINITY;
  #lastChangeAt = Number.NEGATIVE_INFINITY;
  /** Whether the count found at the first decision has been remembered as a recommendation. */
  #seeded = false;

  #inflight: Promise<AutoscaleDecision> | undefined;
  #running = false;
  /** Bumped by start and stop, so a loop of an earlier start schedules nothing more. */
  #generation = 0;
  #timer: Timer | undefined;

  constructor(options: AutoscalerOptions) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('options', options, 'an object');
    this.#clock = or(options.clock, systemClock);
    const actuator = options.actuator;
    if (
      typeof actuator !== 'object' ||
      actuator === null ||
      typeof actuator.capacity !== 'function' ||
      typeof actuator.scale !== 'function'
    ) {
      throw new ConfigError('actuator', actuator, 'an actuator (an object with capacity() and scale())');
    }
    this.#actuator = actuator;
    const name = or(options.name, typeof actuator.name === 'string' ? actuator.name : 'default');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    this.#collectors = checkCollectors(options.collectors);

    this.#interval = positive('interval', or(options.interval, 15_000));
    this.#min = integer('min', or(options.min, 1), 0);
    this.#max = integer('max', options.max, this.#min);
    const behavior = resolveBehavior(options.behavior);
    this.#live = { policies: checkPolicies('policies', options.policies), behavior, recommendations: [] };
    this.#cooldown = resolveCooldown(options.cooldown);
    this.#warm = new WarmUp(nonNegative('warmup', or(options.warmup, 0)));

    if (options.cost !== undefined) {
      const plan = costPlan(options.cost);
      if (plan.affordable < this.#min) {
        throw new ConfigError(
          'cost.maxSpendPerHour',
          options.cost.maxSpendPerHour,
          `enough for min (${this.#min}) replicas, which cost ${num(plan.split(this.#min).spendPerHour)}/h`,
        );
      }
      this.#cost = plan;
    }

    const shadow = options.shadow;
    this.mode = oneOf('mode', or(options.mode, shadow === undefined ? 'live' : 'shadow'), [
      'live',
      'dry-run',
      'shadow',
    ]);
    if (shadow !== undefined) {
      if (typeof shadow !== 'object' || shadow === null) throw new ConfigError('shadow', shadow, 'an object');
      if (this.mode === 'live') {
        throw new ConfigError('mode', this.mode, '"shadow" or "dry-run" when a shadow candidate is given');
      }
      this.#shadow = {
        policies: checkPolicies('shadow.policies', shadow.policies),
        behavior:
          shadow.behavior === undefined ? behavior : resolveBehavior(shadow.behavior, 'shadow.behavior'),
        recommendations: [],
      };
    } else if (this.mode === 'shadow') {
      throw new ConfigError('shadow', shadow, 'a candidate ({ policies }) in mode "shadow"');
    }
    if (options.rollback !== undefined) this.#rollback = new RollbackWatch(options.rollback);

    this.#collectTimeout = positive(
      'collectTimeout',
      or(options.collectTimeout, Math.min(this.#interval / 2, 10_000)),
    );
    this.#scaleTimeout = positive('scaleTimeout', or(options.scaleTimeout, 10_000));
    this.#staleAfter = positive('staleAfter', or(options.staleAfter, 3 * this.#interval));
    const horizon = options.horizon === undefined ? undefined : nonNegative('horizon', options.horizon);
    const analyser = options.analyser;
    if (typeof analyser === 'function') {
      this.#signals = new SignalSet(func<(name: string) => SignalTracker>('analyser', analyser));
    } else if (analyser === undefined || (typeof analyser === 'object' && analyser !== null)) {
      const settings: SignalAnalyserOptions = { ...analyser, ...(horizon === undefined ? {} : { horizon }) };
      new SignalAnalyser(settings); // validates now, not on the first reading
      this.#signals = new SignalSet(() => new SignalAnalyser(settings));
    } else {
      throw new ConfigError('analyser', analyser, 'analyser options or a function of the signal name');
    }
    this.#records = new Ring(integer('records', or(options.records, 100), 1));
    const logger = options.logger;
    if (
      logger !== undefined &&
      (typeof logger !== 'object' ||
        logger === null ||
        typeof logger.info !== 'function' ||
        typeof logger.warn !== 'function')
    ) {
      throw new ConfigError('logger', logger, 'a logger with info() and warn() (pino-compatible)');
    }
    this.#logger = logger;
  }

  get running(): boolean {
    return this.#running;
  }

  get decisions(): readonly AutoscaleDecision[] {
    return this.#records.toArray();
  }

  on<K extends keyof AutoscalerEvents & string>(
    name: K,
    listener: (event: AutoscalerEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop(++this.#generation);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#generation++;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#inflight?.catch(() => undefined);
  }

  tick(): Promise<AutoscaleDecision> {
    if (this.#inflight !== undefined) return this.#inflight;
    const run = this.#run().finally(() => {
      this.#inflight = undefined;
    });
    this.#inflight = run;
    return run;
  }

  // One interval from the start of a tick to the start of the next; a tick that overruns delays the next.
  #loop(generation: number): void {
    const startedAt = this.#clock.now();
    this.tick()
      .catch((error: unknown) => {
        if (!this.#events.wants('error')) return;
        this.#events.emit('error', {
          autoscaler: this.name,
          at: this.#clock.now(),
          seq: this.#seq,
          stage: 'tick',
          source: this.name,
          message: errorMessage(error),
          error,
        });
      })
      .then(() => {
        if (generation !== this.#generation) return;
        const delay = Math.max(0, startedAt + this.#interval - this.#clock.now());
        this.#timer = this.#clock.setTimer(() => this.#loop(generation), delay);
      });
  }

  async #run(): Promise<AutoscaleDecision> {
    const at = this.#clock.now();
    const seq = ++this.#seq;
    const failures: Failure[] = [];
    const fail = (stage: AutoscalerErrorStage, source: string, error: unknown): void => {
      const message = errorMessage(error);
      failures.push({ collector: stage === 'collect' ? source : `${stage}:${source}`, message });
      if (this.#events.wants('error')) {
        this.#events.emit('error', { autoscaler: this.name, at, seq, stage, source, message, error });
      }
    };

    const { capacity, batch } = await this.#collect(fail);
    for (const bad of this.#signals.feed(at, batch))
      fail('collect', bad.collector, new TypeError(bad.message));
    const { signals, stale } = this.#signals.read(at, this.#staleAfter);
    const tick: Tick = { seq, at, failures, readings: Object.fromEntries(batch), signals, stale, fail };

    let decision: AutoscaleDecision;
    if (capacity === undefined) {
      decision = this.#blind(tick);
    } else {
      this.#capacity = capacity;
      decision = this.#decide(tick, capacity, this.#warm.observe(capacity.ready, at));
    }
    this.#publish(decision);
    if (decision.changed && this.mode !== 'dry-run') await this.#act(decision, signals);
    return decision;
  }

  /** The capacity and every collector's readings, read at once under one deadline. */
  async #collect(
    fail: Tick['fail'],
  ): Promise<{ capacity: Capacity | undefined; batch: Map<string, Readings> }> {
    const d = deadline(this.#clock, this.#collectTimeout);
    const [read, ...collected] = await Promise.all([
      settle(() => this.#actuator.capacity(d.signal), d.signal),
      ...this.#collectors.map((c) => settle(() => c.collect(d.signal), d.signal)),
    ]);
    d.done();

    let capacity: Capacity | undefined;
    if (!read.ok) fail('capacity', this.#actuator.name, read.error);
    else if (isCapacity(read.value)) capacity = { desired: read.value.desired, ready: read.value.ready };
    else
      fail('capacity', this.#actuator.name, new TypeError(`invalid capacity ${JSON.stringify(read.value)}`));

    const batch = new Map<string, Readings>();
    for (const [i, result] of collected.entries()) {
      const collector = this.#collectors[i]!;
      if (!result.ok) fail('collect', collector.name, result.error);
      else if (typeof result.value !== 'object' || result.value === null) {
        fail(
          'collect',
          collector.name,
          new TypeError(`readings must be an object, got ${String(result.value)}`),
        );
      } else batch.set(collector.name, { ...result.value });
    }
    return { capacity, batch };
  }

  /** The decision of a tick that could not read the capacity: hold, and act on nothing. */
  #blind(tick: Tick): AutoscaleDecision {
    const capacity = this.#capacity ?? { desired: 0, ready: 0 };
    const base = {
      ...this.#common(tick),
      capacity,
      counted: 0,
      proposals: [],
      rule: 'hold',
      proposed: capacity.desired,
      clamps: [],
      replicas: capacity.desired,
      changed: false,
      cost: this.#cost?.split(capacity.desired),
      shadow: undefined,
      rollback: undefined,
    };
    return { ...base, summary: summarize(base, undefined) };
  }

  #common(tick: Tick) {
    return {
      autoscaler: this.name,
      seq: tick.seq,
      at: tick.at,
      mode: this.mode,
      readings: tick.readings,
      failures: tick.failures,
      signals: Object.fromEntries(tick.signals),
      stale: tick.stale.map((s) => s.name),
    };
  }

  #decide(tick: Tick, capacity: Capacity, counted: number): AutoscaleDecision {
    const { at } = tick;
    const current = capacity.desired;
    const input: PolicyInput = { now: at, capacity, counted, signals: tick.signals };
    const staleness: Staleness | undefined =
      this.#collectors.length === 0
        ? undefined
        : { total: tick.signals.size, stale: tick.stale, limitMs: this.#staleAfter };
    prune(
      this.#changes,
      at -
        Math.max(
          longestPeriod(this.#live.behavior),
          longestPeriod(this.#shadow?.behavior ?? this.#live.behavior),
        ),
    );

    if (!this.#seeded) {
      // As the HPA records an initial recommendation: the count found at the first decision is remembered as
      // one, so that a controller that (re)starts does not scale down before a scale-down window has passed.
      this.#seeded = true;
      const found = bounds(current, this.#min, this.#max).replicas;
      this.#live.recommendations.push({ at, replicas: found });
      this.#shadow?.recommendations.push({ at, replicas: found });
    }
    const run = (c: Candidate) => {
      const proposals = this.#propose(c.policies, input, tick.fail);
      const winner = largest(proposals);
      const proposed = winner?.replicas ?? current;
      const result = this.#guard(proposed, current, at, staleness, c);
      return { proposals, winner, proposed, ...result };
    };

    const live = run(this.#live);
    const candidate = this.#shadow === undefined ? undefined : run(this.#shadow);

    let rule = live.winner?.rule ?? 'hold';
    let { proposed, replicas, clamps } = live;
    let reason = live.winner?.reason;
    const rollback = this.#rollback?.verdict(tick.seq, at, current, (name) => {
      const s = tick.signals.get(name);
      return s === undefined || s.age > this.#staleAfter ? undefined : s;
    });
    if (rollback !== undefined) {
      // A revert skips stabilization, cooldown and rate limits (it returns to a count in force moments ago)
      // but not the hard bounds.
      rule = 'rollback';
      proposed = rollback.to;
      reason = undefined;
      const bounded = bounds(rollback.to, this.#min, this.#max);
      const afforded = this.#cost === undefined ? undefined : budget(bounded.replicas, this.#cost);
      replicas = afforded?.replicas ?? bounded.replicas;
      clamps = [bounded.clamp, afforded?.clamp].filter((c): c is Clamp => c !== undefined);
    }

    const base = {
      ...this.#common(tick),
      capacity,
      counted,
      proposals: live.proposals,
      rule,
      proposed,
      clamps,
      replicas,
      changed: replicas !== current,
      cost: this.#cost?.split(replicas),
      shadow:
        candidate === undefined
          ? undefined
          : {
              proposals: candidate.proposals,
              rule: candidate.winner?.rule ?? 'hold',
              proposed: candidate.proposed,
              clamps: candidate.clamps,
              replicas: candidate.replicas,
              difference: candidate.replicas - replicas,
            },
      rollback: rollback === undefined ? undefined : { ...rollback, to: replicas },
    };
    return { ...base, summary: summarize(base, reason) };
  }

  /** Runs the guards for one policy set and remembers its recommendation. */
  #guard(
    proposed: number,
    current: number,
    now: number,
    staleness: Staleness | undefined,
    c: Candidate,
  ): GuardResult {
    prune(c.recommendations, now - longestWindow(c.behavior));
    const result = applyGuards(proposed, {
      now,
      current,
      min: this.#min,
      max: this.#max,
      cost: this.#cost,
      staleness,
      behavior: c.behavior,
      recommendations: c.recommendations,
      changes: this.#changes,
      cooldown: this.#cooldown,
      last: { upAt: this.#lastUpAt, changeAt: this.#lastChangeAt },
      hold: this.#rollback?.hold,
    });
    c.recommendations.push({ at: now, replicas: result.recommendation });
    return result;
  }

  /** Every policy's proposal; a policy that throws or answers nonsense is recorded and skipped. */
  #propose(policies: readonly ScalingPolicy[], input: PolicyInput, fail: Tick['fail']): Proposal[] {
    const proposals: Proposal[] = [];
    for (const policy of policies) {
      try {
        const p = policy.propose(input);
        if (p === undefined) continue;
        if (!Number.isInteger(p.replicas) || p.replicas < 0 || typeof p.rule !== 'string') {
          throw new TypeError(
            `a proposal needs an integer replicas >= 0 and a rule, got ${JSON.stringify(p)}`,
          );
        }
        proposals.push(p);
      } catch (error) {
        fail('policy', policy.name, error);
      }
    }
    return proposals;
  }

  #publish(decision: AutoscaleDecision): void {
    this.#records.push(decision);
    if (this.#events.wants('decision')) this.#events.emit('decision', decision);
    if (this.#logger !== undefined) {
      const attention = decision.failures.length > 0 || decision.rollback !== undefined;
      this.#log(attention ? 'warn' : 'info', decision, decision.summary);
    }
    const { autoscaler, at, seq, shadow, rollback } = decision;
    if (shadow !== undefined && shadow.difference !== 0 && this.#events.wants('shadow')) {
      this.#events.emit('shadow', {
        autoscaler,
        at,
        seq,
        live: decision.replicas,
        candidate: shadow.replicas,
        difference: shadow.difference,
        rule: shadow.rule,
      });
    }
    if (rollback !== undefined && this.#events.wants('rollback')) {
      this.#events.emit('rollback', { ...rollback, autoscaler, at, seq });
    }
  }

  /** A logger that throws must not stop the loop; its error surfaces as an uncaught exception, as a listener's does. */
  #log(level: 'info' | 'warn', record: object, message: string): void {
    try {
      this.#logger?.[level](record, message);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** Sends the decided count to the actuator; once accepted, remembers the change and watches it. */
  async #act(decision: AutoscaleDecision, signals: ReadonlyMap<string, Signal>): Promise<void> {
    const { seq, rule } = decision;
    const from = decision.capacity.desired;
    const to = decision.replicas;
    const d = deadline(this.#clock, this.#scaleTimeout);
    const result = await settle(() => this.#actuator.scale(to, d.signal), d.signal);
    d.done();
    const at = this.#clock.now();
    if (!result.ok) {
      const message = errorMessage(result.error);
      const source = this.#actuator.name;
      if (this.#events.wants('error')) {
        this.#events.emit('error', {
          autoscaler: this.name,
          at,
          seq,
          stage: 'scale',
          source,
          message,
          error: result.error,
        });
      }
      this.#log(
        'warn',
        { autoscaler: this.name, seq, from, to, error: message },
        `#${seq} actuator "${source}" did not take ${from}→${to}: ${message}`,
      );
      return;
    }
    this.#changes.push({ at, from, to });
    this.#lastChangeAt = at;
    if (to > from) this.#lastUpAt = at;
    this.#capacity = { desired: to, ready: decision.capacity.ready };
    if (this.#events.wants('scale')) {
      this.#events.emit('scale', { autoscaler: this.name, at, seq, from, to, rule });
    }
    this.#rollback?.stepped(seq, decision.at, from, to, rule, signals, this.#staleAfter);
  }
}
