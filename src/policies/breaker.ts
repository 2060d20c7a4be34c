import { type Clock, systemClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { Events, type Listener } from '../core/events.ts';
import { finite, func, integer, or, ordered, positive } from '../core/validate.ts';
import { PriorityLevels } from '../limiter/priority-levels.ts';
import type { Priority } from '../limiter/types.ts';
import { type BreakerState, CircuitOpenError } from './breaker/error.ts';
import { defaultIsFailure, type FailurePredicate } from './breaker/failure.ts';
import { ConsecutiveFailures, RateRules, type Trip } from './breaker/rules.ts';
import { CountWindow, type OutcomeWindow, TimeWindow } from './breaker/window.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from './policy.ts';

export type { BreakerState, CircuitOpenDetails } from './breaker/error.ts';
export { CircuitOpenError, isCircuitOpenError } from './breaker/error.ts';
export { defaultIsFailure, type FailurePredicate } from './breaker/failure.ts';
export type { Trip } from './breaker/rules.ts';

/**
 * A circuit breaker: stops calling a dependency that keeps failing, so the dependency gets room to recover
 * and callers fail fast instead of piling up behind it.
 *
 * ```
 *  closed ──trip rule──▶ open ──open duration──▶ half-open ──`successes` probes──▶ closed
 *                          ▲                         │
 *                          └───── a probe fails ─────┘   (each re-open in a row waits `openBackoff` times longer)
 *  any ──isolate()──▶ isolated ──last handle disposed, or reset()──▶ closed
 * ```
 *
 * The move from open to half-open is observed when the breaker is next consulted (a call, `state`,
 * `snapshot()`); the breaker keeps no timers, so it can leak none.
 */
export interface Breaker extends Policy {
  /** The breaker's name, in events and errors. */
  readonly name: string;
  /** Current state (reading it may observe the move from open to half-open). */
  readonly state: BreakerState;
  /**
   * Runs `fn` if the breaker lets the call through, records its outcome, and returns or rethrows what `fn`
   * did. Rejects with a `CircuitOpenError` (and does not run `fn`) otherwise.
   */
  execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T>;
  /**
   * The synchronous form, for code that cannot wrap a closure (the fetch and HTTP layers): a ticket to settle
   * when the work ends, or `undefined` if the call must not run (`openError()` then says why).
   */
  tryPass(priority?: Priority): BreakerTicket | undefined;
  /** The error a refused call gets now: state, breaker name and time until half-open. */
  openError(): CircuitOpenError;
  /**
   * Holds the breaker open (state `isolated`) until the returned handle is disposed, whatever the
   * dependency does. Isolations nest: the breaker closes when the last handle is disposed. No call passes
   * while isolated, not even the conservative trickle: isolation is an operator's explicit "hands off".
   */
  isolate(): BreakerIsolation;
  /**
   * Closes the breaker and forgets everything: the windows, the failure run, the open backoff, every
   * isolation (outstanding handles become no-ops) and the outcomes of calls still in flight.
   */
  reset(): void;
  /** Current state and window statistics, for metrics and dashboards. */
  snapshot(): BreakerSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:breaker:<event>`); returns an unsubscribe function. */
  on<K extends keyof BreakerEvents & string>(name: K, listener: Listener<BreakerEvents[K]>): () => void;
}

/** What the breaker made of a call it let through. */
export type TicketRole =
  /** A call in the closed state: its outcome feeds the trip rules. */
  | 'call'
  /** A half-open probe: its outcome closes or re-opens the breaker. */
  | 'probe'
  /** Indispensable work let through while open or half-open (conservative mode); it probes too. */
  | 'trickle'
  /** A call a fail-open breaker would have refused: it runs, and its outcome is not recorded. */
  | 'shadow';

/** The right to run one call. Settle it exactly once; later settlements are ignored. */
export interface BreakerTicket {
  readonly role: TicketRole;
  /** True once settled. */
  readonly settled: boolean;
  /** The call succeeded (it may still count as slow). */
  success(): void;
  /** The call failed; `error`, if given, goes into the `failure` event. */
  failure(error?: unknown): void;
  /** The call says nothing about the dependency (the caller gave up, a local rejection): not recorded. */
  ignore(): void;
  /** The call threw `error`: settles as the breaker's `isFailure` predicate reads it. */
  threw(error: unknown, signal?: AbortSignal): void;
}

/** Ends one isolation (idempotent). Also `Disposable`, for `using`. */
export interface BreakerIsolation extends Disposable {
  dispose(): void;
}

/** Why the breaker changed state, with the numbers that decided it. */
export type TransitionReason =
  /** closed -> open: a trip rule fired. */
  | Trip
  /** open -> half-open: the open duration (ms) has passed. */
  | { readonly rule: 'open-elapsed'; readonly openMs: number }
  /** half-open -> open: a probe (or trickle call) failed. */
  | { readonly rule: 'probe-failure' }
  /** half-open -> open: a probe succeeded but took `durationMs`, at least `slowCallDuration` (slow-call rule on). */
  | { readonly rule: 'probe-slow'; readonly durationMs: number; readonly slowCallDuration: number }
  /** open -> half-open: a trickle call succeeded before the open duration ended. */
  | { readonly rule: 'trickle-success' }
  /** half-open -> closed: `successes` probes succeeded. */
  | { readonly rule: 'probes-succeeded'; readonly successes: number }
  /** any -> isolated: `isolate()`. */
  | { readonly rule: 'isolate' }
  /** isolated -> closed: the last isolation handle was disposed. */
  | { readonly rule: 'isolation-ended' }
  /** any -> closed: `reset()`. */
  | { readonly rule: 'reset' };

export interface BreakerEvents {
  /** The state changed. */
  readonly state: {
    readonly breaker: string;
    readonly at: number;
    readonly from: BreakerState;
    readonly to: BreakerState;
    readonly reason: TransitionReason;
    /** For `to: 'open'`: how long it stays open (ms), after backoff. */
    readonly openMs: number | undefined;
  };
  /** A call was refused (or, fail-open, would have been: `enforced` is false and the call runs). */
  readonly reject: {
    readonly breaker: string;
    readonly at: number;
    readonly state: BreakerState;
    readonly priority: Priority | undefined;
    readonly retryAfterMs: number;
    readonly enforced: boolean;
  };
  /** A call let through succeeded. */
  readonly success: {
    readonly breaker: string;
    readonly at: number;
    readonly role: TicketRole;
    /** NaN when the call was not timed (no slow-call rule and no listener when it started). */
    readonly durationMs: number;
    readonly slow: boolean;
  };
  /** A call let through failed (as the predicate reads it). */
  readonly failure: {
    readonly breaker: string;
    readonly at: number;
    readonly role: TicketRole;
    /** NaN when the call was not timed (no slow-call rule and no listener when it started). */
    readonly durationMs: number;
    readonly slow: boolean;
    readonly error: unknown;
  };
}

export interface BreakerSnapshot {
  readonly name: string;
  readonly state: BreakerState;
  /** The sliding window of the closed state (emptied on every close). */
  readonly window: {
    readonly calls: number;
    readonly failures: number;
    readonly slow: number;
    /** failures / calls, 0 when empty. */
    readonly failureRate: number;
    /** slow / calls, 0 when empty. */
    readonly slowCallRate: number;
  };
  /** Failures in a row so far (closed state). */
  readonly consecutiveFailures: number;
  /** Time until half-open (ms); 0 unless open; the base open duration when isolated. */
  readonly retryAfterMs: number;
  /** How long the breaker would stay open if it opened now (ms): grows with each re-open. */
  readonly nextOpenMs: number;
  /** Times opened since the last healthy close. */
  readonly opens: number;
  /** Half-open probes in flight. */
  readonly probesInFlight: number;
  /** Successful probes so far in this half-open period. */
  readonly probeSuccesses: number;
  /** Conservative-mode calls in flight. */
  readonly trickleInFlight: number;
  /** Outstanding isolation handles. */
  readonly isolations: number;
}

/** The last `count` calls. */
export interface WindowByCount {
  /** Calls held, in [1, 100000]. */
  readonly count: number;
}

/** The calls of the last `duration` ms. */
export interface WindowByTime {
  /** Span in ms, > 0. */
  readonly duration: number;
  /** Steps the window moves in (a call leaves it `duration - duration / buckets` to `duration` ms after it ended), in [1, 1000]. Default 10. */
  readonly buckets?: number;
}

export interface HalfOpenOptions {
  /** Probe calls in flight at once while half-open; calls beyond are rejected fast. Default 1. */
  readonly probes?: number;
  /** Successful probes that close the breaker (one failed probe re-opens it). Default 1. */
  readonly successes?: number;
}

export interface ConservativeOptions {
  /** Calls at this priority or a more important one keep trickling while open. Default `"critical"`. */
  readonly priority?: Priority;
  /** Trickle calls in flight at once, >= 1. Default 1. */
  readonly concurrency?: number;
  /** Least time between the starts of two trickle calls (ms), >= 0. Default 1000. */
  readonly interval?: number;
}

export interface BreakerOptions {
  /** Name in events and errors. Default `"breaker"`. */
  readonly name?: string;
  /** Time source. Default the system monotonic clock. */
  readonly clock?: Clock;
  /**
   * Trip after this many failures in a row (an integer >= 1), or `false` for no such rule. This rule needs
   * no volume, so it also guards a dependency called too rarely to fill the window. Default 10.
   */
  readonly consecutiveFailures?: number | false;
  /** Trip when failures / calls in the window reaches this (in (0, 1]), or `false`. Default 0.5. */
  readonly failureRate?: number | false;
  /** Trip when slow calls / calls in the window reaches this (in (0, 1]), or `false`. Default false. */
  readonly slowCallRate?: number | false;
  /**
   * A call that takes this long (ms) or longer is slow. Required with `slowCallRate`; without it, slow calls
   * are only counted in `snapshot()`. While half-open with the slow-call rule on, a slow probe re-opens the
   * breaker. Default: no call is slow.
   */
  readonly slowCallDuration?: number;
  /** Sliding window for the rate rules: by count or by time. Default `{ duration: 10000, buckets: 10 }`. */
  readonly window?: WindowByCount | WindowByTime;
  /**
   * Calls the window must hold before a rate rule may trip, so two calls (one failed: 50%) never open the
   * breaker. An integer >= 1, <= a count window's size. Default 20 (or the count window's size, if smaller).
   */
  readonly minimumCalls?: number;
  /**
   * How long the breaker stays open the first time (ms), > 0. Default 1000. The open period is also how
   * late the breaker can notice that the dependency recovered; while it is open, callers fail fast and the
   * dependency gets at most one probe per period, so a short period costs the dependency little.
   */
  readonly openDuration?: number;
  /**
   * Each re-open in a row (a probe failed) stays open this many times longer than the one before, up to
   * `maxOpenDuration`. A probe that succeeds starts the backoff over, even when more successes are needed
   * to close: the dependency answers again. A number >= 1 (1: no backoff). Default 2.
   */
  readonly openBackoff?: number;
  /**
   * Longest open duration (ms), >= openDuration: the longest the breaker takes to notice a recovery. Default
   * four times openDuration (4000 with the default: open 1 s, 2 s, then 4 s at a time).
   */
  readonly maxOpenDuration?: number;
  /** Half-open probing. */
  readonly halfOpen?: HalfOpenOptions;
  /** Which errors count as failures. Default `defaultIsFailure` (read its note). */
  readonly isFailure?: FailurePredicate;
  /**
   * Conservative mode: while open (and, beyond the probes, half-open) calls at or above a priority still
   * pass, at a bounded concurrency and rate, so an indispensable dependency is never cut off completely. A
   * successful trickle call half-opens the breaker early (and counts as a probe success); a failed one while
   * open changes nothing. `true` for the defaults. Default false.
   */
  readonly conservative?: boolean | ConservativeOptions;
  /**
   * Priority levels, most important first, as in the limiter (a count, or names). Used to rank call
   * priorities against `conservative.priority`. Default the criticality names.
   */
  readonly priorities?: number | readonly string[];
  /**
   * Fail-open (observation mode): the breaker runs its state machine and emits every event (rejections with
   * `enforced: false`) but never refuses a call; calls it would have refused run as `shadow` calls whose
   * outcomes are not recorded, so the states follow exactly what an enforcing breaker would do. Useful to
   * roll a breaker out and tune it. Default false (fail-closed).
   */
  readonly failOpen?: boolean;
}

/** Builds a circuit breaker (a `Policy`). */
export function createBreaker(options: BreakerOptions = {}): Breaker {
  return new CircuitBreaker(options);
}

type Outcome = 'success' | 'failure' | 'ignore';

class Ticket implements BreakerTicket {
  readonly role: TicketRole;
  /** Clock time the call started, or NaN if it was not timed. */
  readonly startedAt: number;
  /** The state period the call was admitted in; its outcome counts only in that period. */
  readonly epoch: number;
  readonly #breaker: CircuitBreaker;
  #settled = false;

  constructor(breaker: CircuitBreaker, epoch: number, role: TicketRole, startedAt: number) {
    this.#breaker = breaker;
    this.epoch = epoch;
    this.role = role;
    this.startedAt = startedAt;
  }

  get settled(): boolean {
    return this.#settled;
  }

  success(): void {
    this.#settle('success', undefined);
  }

  failure(error?: unknown): void {
    this.#settle('failure', error);
  }

  ignore(): void {
    this.#settle('ignore', undefined);
  }

  threw(error: unknown, signal?: AbortSignal): void {
    if (this.#settled) return;
    let verdict: boolean | 'ignore';
    try {
      verdict = this.#breaker.isFailure(error, signal);
    } catch (predicateError) {
      this.ignore();
      throw predicateError;
    }
    this.#settle(verdict === 'ignore' ? 'ignore' : verdict ? 'failure' : 'success', error);
  }

  #settle(outcome: Outcome, error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#breaker.settle(this, outcome, error);
  }
}

interface Trickle {
  readonly level: number;
  readonly concurrency: number;
  readonly interval: number;
}

class CircuitBreaker implements Breaker {
  readonly name: string;
  /** @internal the failure predicate, read by tickets. */
  readonly isFailure: FailurePredicate;
  readonly #clock: Clock;
  readonly #events: Events<BreakerEvents>;
  readonly #failOpen: boolean;
  readonly #consecutive: ConsecutiveFailures | undefined;
  readonly #rates: RateRules;
  readonly #timeWindow: boolean;
  readonly #slowMs: number;
  readonly #slowRule: boolean;
  readonly #openMs: number;
  readonly #backoff: number;
  readonly #maxOpenMs: number;
  readonly #probeLimit: number;
  readonly #successesNeeded: number;
  readonly #levels: PriorityLevels;
  readonly #trickle: Trickle | undefined;

  #state: BreakerState = 'closed';
  /** Bumped on every transition and reset: outcomes of calls admitted in an earlier period are stale. */
  #epoch = 0;
  #opens = 0;
  /** Re-opens in a row since a probe last succeeded: the exponent of the open backoff. */
  #reopens = 0;
  #openFor = 0;
  #openUntil = 0;
  #probes = 0;
  #successes = 0;
  #trickles = 0;
  #lastTrickle = Number.NEGATIVE_INFINITY;
  #isolations = 0;
  /** Bumped by reset(), which voids outstanding isolation handles. */
  #isolationEra = 0;

  constructor(o: BreakerOptions) {
    if (typeof o !== 'object' || o === null) throw new ConfigError('options', o, 'an object');
    const name = or(o.name, 'breaker');
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    this.name = name;
    const clock = or(o.clock, systemClock);
    if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
      throw new ConfigError('clock', clock, 'a Clock (an object with now() and setTimer())');
    }
    this.#clock = clock;
    this.#events = new Events<BreakerEvents>('breaker');
    this.isFailure = func<FailurePredicate>('isFailure', or(o.isFailure, defaultIsFailure));
    this.#failOpen = flag('failOpen', or(o.failOpen, false));

    // Trip rules.
    const run = or(o.consecutiveFailures, 10);
    this.#consecutive =
      run === false ? undefined : new ConsecutiveFailures(integer('consecutiveFailures', run, 1));
    const failureRate = rateOption('failureRate', or(o.failureRate, 0.5));
    const slowCallRate = rateOption('slowCallRate', or(o.slowCallRate, false));
    if (slowCallRate !== undefined && o.slowCallDuration === undefined) {
      throw new ConfigError('slowCallDuration', undefined, 'a duration in ms > 0 when slowCallRate is set');
    }
    this.#slowMs =
      o.slowCallDuration === undefined
        ? Number.POSITIVE_INFINITY
        : positive('slowCallDuration', o.slowCallDuration);
    this.#slowRule = slowCallRate !== undefined;
    const { window, minimumCalls } = windowOption(o.window, o.minimumCalls);
    this.#timeWindow = window instanceof TimeWindow;
    this.#rates = new RateRules(window, {
      minimumCalls,
      failureRate,
      slowCallRate,
      slowCallDuration: this.#slowMs,
    });

    // Open duration and probing.
    this.#openMs = positive('openDuration', or(o.openDuration, 1000));
    this.#backoff = finite('openBackoff', or(o.openBackoff, 2), 1);
    this.#maxOpenMs = positive('maxOpenDuration', or(o.maxOpenDuration, 4 * this.#openMs));
    ordered('openDuration', this.#openMs, 'maxOpenDuration', this.#maxOpenMs);
    const half = or(o.halfOpen, {});
    if (typeof half !== 'object' || half === null) {
      throw new ConfigError('halfOpen', half, 'an object { probes?, successes? }');
    }
    this.#probeLimit = integer('halfOpen.probes', or(half.probes, 1), 1);
    this.#successesNeeded = integer('halfOpen.successes', or(half.successes, 1), 1);

    // Priorities and the conservative trickle.
    this.#levels = new PriorityLevels('priorities', o.priorities);
    const c = or(o.conservative, false);
    if (c === false) {
      this.#trickle = undefined;
    } else if (c === true || (typeof c === 'object' && c !== null)) {
      const co: ConservativeOptions = c === true ? {} : c;
      this.#trickle = {
        level: this.#levels.index(or(co.priority, 'critical'), 'conservative.priority'),
        concurrency: integer('conservative.concurrency', or(co.concurrency, 1), 1),
        interval: finite('conservative.interval', or(co.interval, 1000), 0),
      };
    } else {
      throw new ConfigError('conservative', c, 'a boolean or { priority?, concurrency?, interval? }');
    }
  }

  get state(): BreakerState {
    if (this.#state === 'open') this.#refresh(this.#clock.now());
    return this.#state;
  }

  async execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
    const ticket = this.tryPass(options?.priority);
    if (ticket === undefined) throw this.openError();
    const context = contextOf(options);
    let value: T;
    try {
      value = await fn(context);
    } catch (error) {
      ticket.threw(error, context.signal);
      throw error;
    }
    ticket.success();
    return value;
  }

  tryPass(priority?: Priority): Ticket | undefined {
    if (this.#state === 'closed') {
      // Ranked even while closed, so a priority the breaker does not know fails before an outage does.
      if (this.#trickle !== undefined && priority !== undefined) this.#levels.index(priority);
      return new Ticket(this, this.#epoch, 'call', this.#timed() ? this.#clock.now() : Number.NaN);
    }
    return this.#passNotClosed(priority);
  }

  openError(): CircuitOpenError {
    const now = this.#clock.now();
    this.#refresh(now);
    return new CircuitOpenError({
      breaker: this.name,
      state: this.#state,
      retryAfterMs: this.#retryAfter(now),
    });
  }

  isolate(): BreakerIsolation {
    const era = this.#isolationEra;
    this.#isolations++;
    if (this.#state !== 'isolated') this.#transition(this.#clock.now(), 'isolated', { rule: 'isolate' });
    let disposed = false;
    const dispose = (): void => {
      if (disposed) return;
      disposed = true;
      if (era !== this.#isolationEra) return;
      this.#isolations--;
      if (this.#isolations === 0) this.#close(this.#clock.now(), { rule: 'isolation-ended' });
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  reset(): void {
    this.#isolationEra++;
    this.#isolations = 0;
    this.#close(this.#clock.now(), { rule: 'reset' });
  }

  snapshot(): BreakerSnapshot {
    const now = this.#clock.now();
    this.#refresh(now);
    const w: OutcomeWindow = this.#rates.window;
    w.roll(now);
    return {
      name: this.name,
      state: this.#state,
      window: {
        calls: w.calls,
        failures: w.failures,
        slow: w.slow,
        failureRate: w.calls === 0 ? 0 : w.failures / w.calls,
        slowCallRate: w.calls === 0 ? 0 : w.slow / w.calls,
      },
      consecutiveFailures: this.#consecutive?.count ?? 0,
      retryAfterMs: this.#retryAfter(now),
      nextOpenMs: this.#nextOpenMs(),
      opens: this.#opens,
      probesInFlight: this.#state === 'half-open' ? this.#probes : 0,
      probeSuccesses: this.#state === 'half-open' ? this.#successes : 0,
      trickleInFlight: this.#trickles,
      isolations: this.#isolations,
    };
  }

  on<K extends keyof BreakerEvents & string>(name: K, listener: Listener<BreakerEvents[K]>): () => void {
    return this.#events.on(name, listener);
  }

  /** @internal called once per ticket, by the ticket. */
  settle(t: Ticket, outcome: Outcome, error: unknown): void {
    const current = t.epoch === this.#epoch;
    if (t.role === 'probe') {
      // A probe from an earlier half-open period holds no slot in this one.
      if (current) this.#probes--;
    } else if (t.role === 'trickle') {
      this.#trickles--;
    }
    if (outcome === 'ignore') return;

    const timed = !Number.isNaN(t.startedAt);
    const emit = this.#events.wants(outcome);
    const now =
      timed || emit || this.#timeWindow || outcome === 'failure' || t.role !== 'call' ? this.#clock.now() : 0;
    const durationMs = now - t.startedAt;
    const slow = durationMs >= this.#slowMs;
    if (emit) {
      if (outcome === 'success') {
        this.#events.emit('success', { breaker: this.name, at: now, role: t.role, durationMs, slow });
      } else {
        this.#events.emit('failure', { breaker: this.name, at: now, role: t.role, durationMs, slow, error });
      }
    }
    if (!current || t.role === 'shadow') return;

    const failed = outcome === 'failure';
    switch (this.#state) {
      case 'closed': {
        const byRate = this.#rates.record(now, failed, slow);
        const byRun = this.#consecutive?.record(failed);
        const trip = byRun ?? byRate;
        if (trip !== undefined) this.#open(now, trip);
        return;
      }
      case 'half-open':
        this.#judgeProbe(now, failed, slow, durationMs);
        return;
      case 'open':
        // Only a trickle call can settle in the open period it was admitted in.
        if (!failed && !(slow && this.#slowRule)) {
          this.#halfOpen(now, { rule: 'trickle-success' });
          this.#judgeProbe(now, false, false, durationMs);
        }
        return;
      case 'isolated':
        return;
    }
  }

  #passNotClosed(priority: Priority | undefined): Ticket | undefined {
    const now = this.#clock.now();
    this.#refresh(now);
    if (this.#state === 'closed') return new Ticket(this, this.#epoch, 'call', now);
    if (this.#state === 'half-open' && this.#probes < this.#probeLimit) {
      this.#probes++;
      return new Ticket(this, this.#epoch, 'probe', now);
    }
    const t = this.#trickle;
    if (
      t !== undefined &&
      this.#state !== 'isolated' &&
      this.#levels.index(priority) <= t.level &&
      this.#trickles < t.concurrency &&
      now - this.#lastTrickle >= t.interval
    ) {
      this.#trickles++;
      this.#lastTrickle = now;
      return new Ticket(this, this.#epoch, 'trickle', now);
    }
    if (this.#events.wants('reject')) {
      this.#events.emit('reject', {
        breaker: this.name,
        at: now,
        state: this.#state,
        priority,
        retryAfterMs: this.#retryAfter(now),
        enforced: !this.#failOpen,
      });
    }
    return this.#failOpen ? new Ticket(this, this.#epoch, 'shadow', now) : undefined;
  }

  #judgeProbe(now: number, failed: boolean, slow: boolean, durationMs: number): void {
    if (failed) {
      this.#open(now, { rule: 'probe-failure' });
    } else if (slow && this.#slowRule) {
      this.#open(now, { rule: 'probe-slow', durationMs, slowCallDuration: this.#slowMs });
    } else {
      this.#reopens = 0;
      if (++this.#successes >= this.#successesNeeded) {
        this.#close(now, { rule: 'probes-succeeded', successes: this.#successes });
      }
    }
  }

  /** Observes the end of the open period. */
  #refresh(now: number): void {
    if (this.#state === 'open' && now >= this.#openUntil) {
      this.#halfOpen(now, { rule: 'open-elapsed', openMs: this.#openFor });
    }
  }

  #open(now: number, reason: TransitionReason): void {
    const ms = this.#nextOpenMs();
    this.#opens++;
    this.#reopens++;
    this.#openFor = ms;
    this.#openUntil = now + ms;
    this.#transition(now, 'open', reason, ms);
  }

  #halfOpen(now: number, reason: TransitionReason): void {
    this.#probes = 0;
    this.#successes = 0;
    this.#transition(now, 'half-open', reason);
  }

  /** A healthy close (probes succeeded, isolation ended, reset): fresh window, backoff starts over. */
  #close(now: number, reason: TransitionReason): void {
    this.#opens = 0;
    this.#reopens = 0;
    this.#rates.clear();
    this.#consecutive?.clear();
    if (this.#state === 'closed') this.#epoch++;
    else this.#transition(now, 'closed', reason);
  }

  #transition(now: number, to: BreakerState, reason: TransitionReason, openMs?: number): void {
    const from = this.#state;
    this.#state = to;
    this.#epoch++;
    if (this.#events.wants('state')) {
      this.#events.emit('state', { breaker: this.name, at: now, from, to, reason, openMs });
    }
  }

  #nextOpenMs(): number {
    return Math.min(this.#maxOpenMs, this.#openMs * this.#backoff ** this.#reopens);
  }

  #retryAfter(now: number): number {
    switch (this.#state) {
      case 'open':
        return Math.max(0, this.#openUntil - now);
      case 'isolated':
        return this.#openMs;
      default:
        return 0;
    }
  }

  #timed(): boolean {
    return (
      this.#slowMs !== Number.POSITIVE_INFINITY ||
      this.#events.wants('success') ||
      this.#events.wants('failure')
    );
  }
}

function flag(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(option, value, 'a boolean');
  return value;
}

function rateOption(option: string, value: unknown): number | undefined {
  if (value === false) return undefined;
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new ConfigError(option, value, 'a number in (0, 1], or false');
  }
  return value;
}

function windowOption(
  value: unknown,
  minimum: unknown,
): { readonly window: OutcomeWindow; readonly minimumCalls: number } {
  const w = or(value, { duration: 10_000 }) as Partial<WindowByCount & WindowByTime>;
  const shape = '{ count } or { duration, buckets? }';
  if (typeof w !== 'object' || w === null || ('count' in w && 'duration' in w)) {
    throw new ConfigError('window', value, shape);
  }
  if ('count' in w) {
    const size = integer('window.count', w.count, 1, 100_000);
    const minimumCalls = integer('minimumCalls', or(minimum, Math.min(20, size)), 1);
    ordered('minimumCalls', minimumCalls, 'window.count', size);
    return { window: new CountWindow(size), minimumCalls };
  }
  if ('duration' in w) {
    const duration = positive('window.duration', w.duration);
    const buckets = integer('window.buckets', or(w.buckets, 10), 1, 1000);
    return {
      window: new TimeWindow(duration, buckets),
      minimumCalls: integer('minimumCalls', or(minimum, 20), 1),
    };
  }
  throw new ConfigError('window', value, shape);
}
