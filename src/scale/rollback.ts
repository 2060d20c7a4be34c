import { ConfigError } from '../core/errors.ts';
import { fraction, nonNegative, oneOf, or, positive } from '../core/validate.ts';
import { duration, num } from './format.ts';
import type { Direction, DirectionHold } from './guards.ts';
import { ruleSignal } from './signal-set.ts';
import type { Signal } from './types.ts';

export interface RollbackOptions {
  /**
   * How long after a scale step its target signal is watched (ms): long enough for the new capacity to be
   * ready and for the signal's smoothing to follow. The verdict is taken on the first tick at or after it.
   */
  readonly windowMs: number;
  /**
   * How much worse the target signal's smoothed value may get, as a fraction of its value at the step,
   * before the step is reverted. Default 0.2. (A surge that outgrows the added capacity also reads as
   * "worse": set it above the growth a surge can bring within the window.)
   */
  readonly threshold?: number;
  /** After a rollback, the direction of the failed step is suppressed this long (ms). Default 600000 (10 min). */
  readonly holdMs?: number;
  /** Which steps are watched. Default `"up"`: replicas were added and did not help. */
  readonly watch?: 'up' | 'down' | 'both';
  /**
   * The signal to watch: a name, or a function of the winning rule. Default: the signal the rule names
   * (`"target:latency"` watches `latency`, or `<collector>.latency` when that is the only match). A step
   * whose signal cannot be found is not watched.
   */
  readonly signal?: string | ((rule: string) => string | undefined);
  /** Which way is worse for the watched signal. Default `"higher"` (latency, backlog, utilisation). */
  readonly worse?: 'higher' | 'lower';
}

/** A scale step reverted because its target signal got worse. */
export interface RollbackRecord {
  /** The direction of the reverted step. */
  readonly direction: Direction;
  /** Seq of the decision that started the step. */
  readonly step: number;
  readonly signal: string;
  /** The signal's smoothed value at the step, and at the verdict. */
  readonly before: number;
  readonly after: number;
  readonly threshold: number;
  /** The count reverted from, and to (after min, max and the budget). */
  readonly from: number;
  readonly to: number;
  /** Until when (clock ms) the direction of the step is suppressed. */
  readonly holdUntil: number;
  /** What happened, with the numbers, and the likely cause. */
  readonly cause: string;
}

interface Settings {
  readonly windowMs: number;
  readonly threshold: number;
  readonly holdMs: number;
  readonly watch: 'up' | 'down' | 'both';
  readonly signal: string | ((rule: string) => string | undefined) | undefined;
  readonly worse: 'higher' | 'lower';
}

interface Episode {
  readonly direction: Direction;
  readonly step: number;
  readonly from: number;
  to: number;
  readonly signal: string;
  readonly before: number;
  readonly startedAt: number;
}

/**
 * Watches scale steps and reverts one whose target signal got worse. Steps the same way within a watch
 * join its episode: the verdict compares with the signal at the first step and reverts to the count
 * before it. A change the other way, or by someone else, ends the episode.
 */
export class RollbackWatch {
  readonly #s: Settings;
  #episode: Episode | undefined;
  #hold: DirectionHold | undefined;

  /** Validates `options` (named under `rollback.`). */
  constructor(options: RollbackOptions) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('rollback', options, 'an object');
    const signal = options.signal;
    if (
      signal !== undefined &&
      typeof signal !== 'function' &&
      (typeof signal !== 'string' || signal === '')
    ) {
      throw new ConfigError('rollback.signal', signal, 'a signal name or a function of the rule');
    }
    const worse = oneOf('rollback.worse', or(options.worse, 'higher'), ['higher', 'lower']);
    const threshold = or(options.threshold, 0.2);
    this.#s = {
      windowMs: positive('rollback.windowMs', options.windowMs),
      threshold:
        worse === 'lower'
          ? fraction('rollback.threshold', threshold)
          : positive('rollback.threshold', threshold),
      holdMs: nonNegative('rollback.holdMs', or(options.holdMs, 600_000)),
      watch: oneOf('rollback.watch', or(options.watch, 'up'), ['up', 'down', 'both']),
      signal,
      worse,
    };
  }

  /** The direction suppressed by the last rollback, if any (the guards check its `until`). */
  get hold(): DirectionHold | undefined {
    return this.#hold;
  }

  /**
   * The verdict on the watched episode, on the first tick at or after its window: a record when the
   * target signal got worse by more than the threshold (and the hold is set), else `undefined`.
   * `lookup` gives a signal now, or `undefined` when it is absent or stale: then no verdict is possible
   * and the episode ends without one.
   */
  verdict(
    seq: number,
    at: number,
    current: number,
    lookup: (name: string) => Signal | undefined,
  ): RollbackRecord | undefined {
    const e = this.#episode;
    if (e === undefined) return undefined;
    if (current !== e.to) {
      this.#episode = undefined;
      return undefined;
    }
    if (at < e.startedAt + this.#s.windowMs) return undefined;
    this.#episode = undefined;
    const s = lookup(e.signal);
    if (s === undefined || !Number.isFinite(s.smoothed)) return undefined;
    const before = e.before;
    const after = s.smoothed;
    const margin = Math.abs(before) * this.#s.threshold;
    const worse = this.#s.worse === 'higher' ? after > before + margin : after < before - margin;
    if (!worse) return undefined;

    const change = before === 0 ? '' : ` (${percent((after - before) / Math.abs(before))})`;
    const seen =
      `${e.signal} went from ${num(before)} to ${num(after)}${change} in ${duration(at - e.startedAt)}, ` +
      `more than the ${num(this.#s.threshold * 100, 0)}% allowed`;
    const cause =
      e.direction === 'up'
        ? `scaling up ${e.from}→${e.to} did not help: ${seen}; the bottleneck is probably elsewhere (e.g. a database)`
        : `scaling down ${e.from}→${e.to} made things worse: ${seen}; the capacity was needed`;
    const holdUntil = at + this.#s.holdMs;
    this.#hold = {
      direction: e.direction,
      until: holdUntil,
      cause:
        `scaling ${e.direction} ${e.from}→${e.to} ${e.direction === 'up' ? 'did not help' : 'made things worse'} ` +
        `(${e.signal} ${num(before)} → ${num(after)}), rolled back at #${seq}`,
    };
    return {
      direction: e.direction,
      step: e.step,
      signal: e.signal,
      before,
      after,
      threshold: this.#s.threshold,
      from: e.to,
      to: e.from,
      holdUntil,
      cause,
    };
  }

  /**
   * Called once the actuator accepted a step from `from` to `to` decided by `rule`: starts an episode
   * (or extends the current one). A rollback's own step (`rule` `"rollback"`) is not watched.
   */
  stepped(
    seq: number,
    at: number,
    from: number,
    to: number,
    rule: string,
    signals: ReadonlyMap<string, Signal>,
    staleAfter: number,
  ): void {
    const direction: Direction = to > from ? 'up' : 'down';
    const e = this.#episode;
    if (e !== undefined && e.direction === direction && e.to === from && rule !== 'rollback') {
      e.to = to;
      return;
    }
    this.#episode = undefined;
    if (rule === 'rollback' || (this.#s.watch !== 'both' && this.#s.watch !== direction)) return;
    const option = this.#s.signal;
    const name =
      typeof option === 'string'
        ? option
        : typeof option === 'function'
          ? option(rule)
          : ruleSignal(rule, signals.keys());
    const s = name === undefined ? undefined : signals.get(name);
    if (name === undefined || s === undefined || s.age > staleAfter || !Number.isFinite(s.smoothed)) return;
    this.#episode = { direction, step: seq, from, to, signal: name, before: s.smoothed, startedAt: at };
  }
}

function percent(ratio: number): string {
  return `${ratio > 0 ? '+' : ''}${num(ratio * 100, 0)}%`;
}
