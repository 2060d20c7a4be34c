import { ConfigError } from '../core/errors.ts';
import { array, bool, checkKeys, isPlainObject, join, object, text } from '../core/spec.ts';
import { finite, integer, nonNegative, oneOf, positive } from '../core/validate.ts';
import { type Distribution, type DistributionSpec, distribution, Random } from './random.ts';
import { parseTrace, type TraceFormat, type TraceRecord } from './trace.ts';

/**
 * Workload models: when requests arrive (an arrival process) and what each one is (priority, weight, key,
 * partition, service demand, patience), and how clients react to failure (retries).
 *
 * Rates are in requests per second; times in milliseconds of simulated time. A scenario's `workload` is one
 * source or an array of sources whose arrivals are superposed (say, steady background traffic plus a flash
 * crowd). Each source draws from its own random streams.
 *
 * ```yaml
 * workload:
 *   - { type: poisson, rate: 800, priority: { critical: 1, normal: 8, sheddable: 1 } }
 *   - { type: spike, rate: 0, spikes: [{ at: 60000, rate: 2000, rampUp: 5000, hold: 30000 }], timeout: 1000,
 *       retry: { attempts: 3, backoff: 0 } }
 * ```
 */
export type WorkloadSpec = ArrivalSpec & RequestSpec;

export type ArrivalSpec =
  /** Poisson arrivals (exponential gaps) at `rate`. */
  | { readonly type: 'poisson'; readonly rate: number }
  /** Evenly spaced arrivals at `rate`. */
  | { readonly type: 'constant'; readonly rate: number }
  /**
   * On/off bursts: Poisson at `rate` for `on` ms, then at `offRate` (default 0) for `off` ms, repeating,
   * starting "on". With `random`, the on and off spells are exponential with those means (an
   * interrupted Poisson process).
   */
  | {
      readonly type: 'onoff';
      readonly rate: number;
      readonly on: number;
      readonly off: number;
      readonly offRate?: number;
      readonly random?: boolean;
    }
  /**
   * Markov-modulated Poisson: Poisson at the current state's `rate`; a state lasts an exponential time of
   * mean `mean` ms, then moves to another chosen by the row of `transitions` (relative weights; default
   * every other state equally). Starts in state 0.
   */
  | {
      readonly type: 'mmpp';
      readonly states: readonly { readonly rate: number; readonly mean: number }[];
      readonly transitions?: readonly (readonly number[])[];
    }
  /**
   * Daily cycle: the rate swings as a cosine between `min` and `max`, peaking at `peakAt` (default half a
   * period) within each `period` (default 24 h; shorten it to compress a day).
   */
  | {
      readonly type: 'diurnal';
      readonly min: number;
      readonly max: number;
      readonly period?: number;
      readonly peakAt?: number;
    }
  /**
   * Flash crowds: a base `rate` with spikes. Each spike ramps linearly from the base to its `rate` over
   * `rampUp` ms from `at`, holds for `hold` ms, and ramps back over `rampDown` ms. Spikes must not overlap.
   */
  | {
      readonly type: 'spike';
      readonly rate: number;
      readonly spikes: readonly {
        readonly at: number;
        readonly rate: number;
        readonly hold: number;
        readonly rampUp?: number;
        readonly rampDown?: number;
      }[];
    }
  /**
   * A rate profile through the given points, linear between them (or held until the next with
   * `interpolate: "step"`) and flat beyond the ends. For ramps and step tests.
   */
  | {
      readonly type: 'profile';
      readonly points: readonly { readonly at: number; readonly rate: number }[];
      readonly interpolate?: 'linear' | 'step';
    }
  /**
   * Replay of recorded arrivals: `records`, or the `text` of a trace in `format` (see `parseTrace`).
   * `speed` scales time (2 replays twice as fast); `loop` repeats the trace end to end.
   */
  | {
      readonly type: 'trace';
      readonly records?: readonly TraceRecord[];
      readonly text?: string;
      readonly format?: TraceFormat;
      readonly speed?: number;
      readonly loop?: boolean;
    };

/**
 * A mix of values: one value, or an object from value to relative frequency, e.g.
 * `{ critical: 1, normal: 8, sheddable: 1 }` or, for weights, `{ "1": 9, "5": 1 }`.
 */
export type MixSpec = string | number | Readonly<Record<string, number>>;

export interface RequestSpec {
  /** Name of the source in reports. Default its type, or `"<type>#<i>"` when several sources share a type. */
  readonly name?: string;
  /** The source sends only in [start, end) (ms). Default the whole run. */
  readonly start?: number;
  readonly end?: number;
  /** Priority mix: criticality names or level indexes. Default none (the policy's default). */
  readonly priority?: MixSpec;
  /** Weight (permit cost) mix. Default 1. */
  readonly weight?: MixSpec;
  /** Fairness key (tenant) mix. Default none. */
  readonly key?: MixSpec;
  /** Limiter partition mix. Default none. */
  readonly partition?: MixSpec;
  /** Service demand of this source's requests; default the downstream's `service`. */
  readonly work?: DistributionSpec;
  /**
   * Client patience (ms): the client gives up on an attempt this long after sending it (a timeout; the
   * work may still go on downstream). It is passed to the policy as the request's deadline. Default none.
   */
  readonly timeout?: number;
  /**
   * How the client retries failed calls: a naive client, outside any policy, on a fixed schedule and with
   * no budget, each retry a fresh call through the whole policy. For sluice's own retry (budgeted, inside
   * the call, as `guard()` runs it) use the `retry` policy type instead. Default no retries.
   */
  readonly retry?: RetrySpec;
}

/** What the client counts as a failure worth retrying. */
export type RetryOn = 'shed' | 'overload' | 'error' | 'timeout';

export interface RetrySpec {
  /** Retries after the first call (each a new call, whatever a `retry` policy does inside it). Default 3. */
  readonly attempts?: number;
  /**
   * Delay before retry k (1-based). A number is a constant delay (0: at once, the storm-maker). An object
   * is exponential: `initial * multiplier^(k-1)`, at most `max`, with jitter. Default
   * `{ initial: 100, multiplier: 2, max: 5000, jitter: "full" }`.
   */
  readonly backoff?:
    | number
    | {
        readonly initial?: number;
        readonly multiplier?: number;
        readonly max?: number;
        /** `"full"`: uniform in [0, d]; `"equal"`: in [d/2, d]; `"none"`: d. Default `"full"`. */
        readonly jitter?: 'none' | 'full' | 'equal';
      };
  /** Failures that are retried. Default all four. */
  readonly on?: readonly RetryOn[];
  /** Wait at least the policy's retry-after hint after a shed. Default false. */
  readonly retryAfter?: boolean;
}

/** @internal a value drawn from a mix. */
export class Mix<T> {
  readonly #values: readonly T[];
  readonly #cumulative: readonly number[];
  readonly #single: boolean;

  constructor(values: readonly T[], weights: readonly number[]) {
    this.#values = values;
    let sum = 0;
    this.#cumulative = weights.map((w) => (sum += w));
    this.#cumulative = this.#cumulative.map((c) => c / sum);
    this.#single = values.length === 1;
  }

  get values(): readonly T[] {
    return this.#values;
  }

  sample(random: Random): T {
    if (this.#single) return this.#values[0]!;
    const u = random.next();
    const c = this.#cumulative;
    for (let i = 0; i < c.length - 1; i++) if (u < c[i]!) return this.#values[i]!;
    return this.#values[c.length - 1]!;
  }
}

/** @internal a client's retry behaviour. */
export class Retry {
  readonly attempts: number;
  readonly #on: ReadonlySet<RetryOn>;
  readonly #retryAfter: boolean;
  readonly #initial: number;
  readonly #multiplier: number;
  readonly #max: number;
  readonly #jitter: 'none' | 'full' | 'equal';

  constructor(spec: unknown, path: string) {
    const s = object(path, spec, 'a retry object ({ attempts?, backoff?, on?, retryAfter? })');
    checkKeys(path, s, ['attempts', 'backoff', 'on', 'retryAfter']);
    this.attempts = s['attempts'] === undefined ? 3 : integer(join(path, 'attempts'), s['attempts'], 0, 1000);
    const on =
      s['on'] === undefined ? ['shed', 'overload', 'error', 'timeout'] : array(join(path, 'on'), s['on']);
    this.#on = new Set(
      on.map((o, i) =>
        oneOf(`${join(path, 'on')}[${i}]`, o, ['shed', 'overload', 'error', 'timeout'] as const),
      ),
    );
    this.#retryAfter = bool(join(path, 'retryAfter'), s['retryAfter'], false);
    const b = s['backoff'];
    const bp = join(path, 'backoff');
    if (typeof b === 'number') {
      this.#initial = finite(bp, b, 0);
      this.#multiplier = 1;
      this.#max = this.#initial;
      this.#jitter = 'none';
    } else {
      const o =
        b === undefined ? {} : object(bp, b, 'a delay in ms or { initial?, multiplier?, max?, jitter? }');
      checkKeys(bp, o, ['initial', 'multiplier', 'max', 'jitter']);
      this.#initial = o['initial'] === undefined ? 100 : finite(join(bp, 'initial'), o['initial'], 0);
      this.#multiplier =
        o['multiplier'] === undefined ? 2 : finite(join(bp, 'multiplier'), o['multiplier'], 1);
      this.#max =
        o['max'] === undefined
          ? Math.max(5000, this.#initial)
          : finite(join(bp, 'max'), o['max'], this.#initial);
      this.#jitter = oneOf(join(bp, 'jitter'), o['jitter'] ?? 'full', ['none', 'full', 'equal'] as const);
    }
  }

  /** Whether a failure of this kind is retried. */
  retries(failure: RetryOn): boolean {
    return this.#on.has(failure);
  }

  /** Delay before retry `k` (1-based), given the policy's retry-after hint (ms, or NaN). */
  delay(k: number, retryAfterMs: number, random: Random): number {
    const d = Math.min(this.#max, this.#initial * this.#multiplier ** (k - 1));
    let delay = d;
    if (this.#jitter === 'full') delay = d * random.next();
    else if (this.#jitter === 'equal') delay = d / 2 + (d / 2) * random.next();
    if (this.#retryAfter && retryAfterMs > delay) delay = retryAfterMs;
    return delay;
  }
}

/** @internal when requests arrive: each call returns the next arrival time after `t`, or Infinity. */
interface Arrivals {
  next(t: number): number;
  /** For replayed traces: the record of the arrival `next` last returned. */
  readonly record?: TraceRecord | undefined;
}

/** @internal one workload source: arrivals plus the attributes of its requests. */
export class Source {
  readonly index: number;
  /** Where the source is in the scenario (`workload` or `workload[i]`), for error messages. */
  readonly path: string;
  readonly name: string;
  readonly type: string;
  readonly start: number;
  readonly end: number;
  readonly timeout: number;
  readonly retry: Retry | undefined;
  readonly work: Distribution | undefined;
  readonly priority: Mix<string | number> | undefined;
  readonly weight: Mix<number> | undefined;
  readonly key: Mix<string> | undefined;
  readonly partition: Mix<string> | undefined;
  /** Mean rate over the run where it is known in closed form (requests per second), else NaN. */
  readonly meanRate: number;
  readonly #arrivals: Arrivals;

  constructor(spec: unknown, path: string, index: number, name: string, random: Random) {
    const s = object(path, spec, 'a workload object ({ type, rate, ... })');
    const at = (k: string): string => join(path, k);
    const type = oneOf(at('type'), s['type'], [
      'poisson',
      'constant',
      'onoff',
      'mmpp',
      'diurnal',
      'spike',
      'profile',
      'trace',
    ] as const);
    const request = [
      'type',
      'name',
      'start',
      'end',
      'priority',
      'weight',
      'key',
      'partition',
      'work',
      'timeout',
      'retry',
    ];
    const own: Record<typeof type, readonly string[]> = {
      poisson: ['rate'],
      constant: ['rate'],
      onoff: ['rate', 'on', 'off', 'offRate', 'random'],
      mmpp: ['states', 'transitions'],
      diurnal: ['min', 'max', 'period', 'peakAt'],
      spike: ['rate', 'spikes'],
      profile: ['points', 'interpolate'],
      trace: ['records', 'text', 'format', 'speed', 'loop'],
    };
    checkKeys(path, s, [...request, ...own[type]]);
    this.index = index;
    this.path = path;
    this.type = type;
    this.name = s['name'] === undefined ? name : text(at('name'), s['name']);
    this.start = s['start'] === undefined ? 0 : finite(at('start'), s['start'], 0);
    this.end = s['end'] === undefined ? Infinity : finite(at('end'), s['end'], this.start);
    this.timeout = s['timeout'] === undefined ? Infinity : positive(at('timeout'), s['timeout']);
    this.retry = s['retry'] === undefined ? undefined : new Retry(s['retry'], at('retry'));
    this.work = s['work'] === undefined ? undefined : distribution(s['work'], at('work'));
    this.priority = mix(s['priority'], at('priority'), priorityValue);
    this.weight = mix(s['weight'], at('weight'), weightValue);
    this.key = mix(s['key'], at('key'), (k) => k);
    this.partition = mix(s['partition'], at('partition'), (k) => k);
    const built = arrivals(type, s, path, random, this.start);
    this.#arrivals = built.arrivals;
    this.meanRate = built.meanRate;
  }

  /** Next arrival after `t` (absolute ms), or Infinity when the source is done. */
  next(t: number): number {
    const n = this.#arrivals.next(t);
    return n < this.end ? n : Infinity;
  }

  /** The trace record of the arrival `next` returned last (trace sources only). */
  get record(): TraceRecord | undefined {
    return this.#arrivals.record;
  }
}

/** Builds the sources of a scenario's `workload` (one spec or an array). */
export function sources(spec: unknown, path: string, seed: number | string): Source[] {
  if (spec === undefined) throw new ConfigError(path, spec, 'a workload object or an array of them');
  const list = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0) throw new ConfigError(path, spec, 'at least one workload source');
  const types = list.map((s) => (isPlainObject(s) ? String(s['type']) : ''));
  return list.map((s, i) => {
    const p = Array.isArray(spec) ? `${path}[${i}]` : path;
    const t = types[i]!;
    const name = types.filter((x) => x === t).length > 1 ? `${t}#${i}` : t;
    return new Source(s, p, i, name, new Random(seed, `arrivals/${i}`));
  });
}

function priorityValue(k: string, path: string): string | number {
  if (/^\d+$/.test(k)) return Number(k);
  if (k === '') throw new ConfigError(path, k, 'a criticality name or a level index');
  return k;
}

function weightValue(k: string, path: string): number {
  const n = Number(k);
  if (k.trim() === '' || !Number.isFinite(n) || n <= 0) throw new ConfigError(path, k, 'a weight > 0');
  return n;
}

function mix<T>(spec: unknown, path: string, parse: (key: string, path: string) => T): Mix<T> | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec === 'string' || typeof spec === 'number') return new Mix([parse(String(spec), path)], [1]);
  const o = object(path, spec, 'a value or an object from values to relative frequencies');
  const entries = Object.entries(o);
  if (entries.length === 0) throw new ConfigError(path, spec, 'at least one value');
  const values = entries.map(([k]) => parse(k, `${path}.${k}`));
  const weights = entries.map(([k, w]) => finite(`${path}.${k}`, w, 0));
  if (weights.every((w) => w === 0)) throw new ConfigError(path, spec, 'frequencies that are not all 0');
  return new Mix(values, weights);
}

function arrivals(
  type: WorkloadSpec['type'],
  s: Record<string, unknown>,
  path: string,
  random: Random,
  start: number,
): { arrivals: Arrivals; meanRate: number } {
  const at = (k: string): string => join(path, k);
  switch (type) {
    case 'poisson': {
      const rate = finite(at('rate'), s['rate'], 0);
      const gap = 1000 / rate;
      return {
        arrivals: { next: (t) => (rate === 0 ? Infinity : t + random.exponential(gap)) },
        meanRate: rate,
      };
    }
    case 'constant': {
      const rate = finite(at('rate'), s['rate'], 0);
      const gap = 1000 / rate;
      return { arrivals: { next: (t) => (rate === 0 ? Infinity : t + gap) }, meanRate: rate };
    }
    case 'onoff': {
      const rate = finite(at('rate'), s['rate'], 0);
      const offRate = s['offRate'] === undefined ? 0 : finite(at('offRate'), s['offRate'], 0);
      const on = positive(at('on'), s['on']);
      const off = positive(at('off'), s['off']);
      const exponential = bool(at('random'), s['random'], false);
      const hold = (mean: number) => (exponential ? () => random.exponential(mean) : () => mean);
      return {
        arrivals: new Modulated([rate, offRate], [hold(on), hold(off)], () => 0, start, random),
        meanRate: (rate * on + offRate * off) / (on + off),
      };
    }
    case 'mmpp': {
      const states = array(at('states'), s['states'], 'an array of { rate, mean }');
      if (states.length < 2) throw new ConfigError(at('states'), s['states'], 'at least two states');
      const rates: number[] = [];
      const holds: (() => number)[] = [];
      const means: number[] = [];
      states.forEach((st, i) => {
        const p = `${at('states')}[${i}]`;
        const o = object(p, st, 'an object { rate, mean }');
        checkKeys(p, o, ['rate', 'mean']);
        rates.push(finite(join(p, 'rate'), o['rate'], 0));
        const mean = positive(join(p, 'mean'), o['mean']);
        means.push(mean);
        holds.push(() => random.exponential(mean));
      });
      const n = states.length;
      const rows: Mix<number>[] = [];
      if (s['transitions'] === undefined) {
        for (let i = 0; i < n; i++) {
          const others = [...Array(n).keys()].filter((j) => j !== i);
          rows.push(
            new Mix(
              others,
              others.map(() => 1),
            ),
          );
        }
      } else {
        const m = array(at('transitions'), s['transitions'], `an ${n}x${n} array of weights`);
        if (m.length !== n) throw new ConfigError(at('transitions'), m, `${n} rows (one per state)`);
        m.forEach((row, i) => {
          const rp = `${at('transitions')}[${i}]`;
          const r = array(rp, row, `${n} weights`);
          if (r.length !== n) throw new ConfigError(rp, row, `${n} weights`);
          const ws = r.map((w, j) => (j === i ? 0 : finite(`${rp}[${j}]`, w, 0)));
          if (ws.every((w) => w === 0)) throw new ConfigError(rp, row, 'a weight > 0 for some other state');
          rows.push(new Mix([...Array(n).keys()], ws));
        });
      }
      return {
        arrivals: new Modulated(rates, holds, (i) => rows[i]!.sample(random), start, random),
        meanRate: Number.NaN,
      };
    }
    case 'diurnal': {
      const min = finite(at('min'), s['min'], 0);
      const max = finite(at('max'), s['max'], min);
      const period = s['period'] === undefined ? 86_400_000 : positive(at('period'), s['period']);
      const peakAt = s['peakAt'] === undefined ? period / 2 : finite(at('peakAt'), s['peakAt']);
      const mid = (min + max) / 2;
      const amp = (max - min) / 2;
      const w = (2 * Math.PI) / period;
      const profile: Profile = {
        rate: (t) => mid + amp * Math.cos(w * (t - peakAt)),
        bound: () => max,
        until: () => Infinity,
      };
      return { arrivals: new Thinned(profile, random), meanRate: Number.NaN };
    }
    case 'spike': {
      const base = finite(at('rate'), s['rate'], 0);
      const spikes = array(at('spikes'), s['spikes'], 'an array of { at, rate, hold, rampUp?, rampDown? }');
      const points: [number, number][] = [];
      let last = -Infinity;
      spikes.forEach((sp, i) => {
        const p = `${at('spikes')}[${i}]`;
        const o = object(p, sp, 'an object { at, rate, hold, rampUp?, rampDown? }');
        checkKeys(p, o, ['at', 'rate', 'hold', 'rampUp', 'rampDown']);
        const t0 = finite(join(p, 'at'), o['at'], 0);
        if (t0 < last)
          throw new ConfigError(join(p, 'at'), t0, `a time at or after the previous spike's end (${last})`);
        const peak = finite(join(p, 'rate'), o['rate'], 0);
        const up = o['rampUp'] === undefined ? 0 : finite(join(p, 'rampUp'), o['rampUp'], 0);
        const hold = nonNegative(join(p, 'hold'), o['hold']);
        const down = o['rampDown'] === undefined ? 0 : finite(join(p, 'rampDown'), o['rampDown'], 0);
        points.push([t0, base], [t0 + up, peak], [t0 + up + hold, peak], [t0 + up + hold + down, base]);
        last = t0 + up + hold + down;
      });
      return { arrivals: new Thinned(piecewise(points, false, base), random), meanRate: Number.NaN };
    }
    case 'profile': {
      const list = array(at('points'), s['points'], 'an array of { at, rate }');
      if (list.length === 0) throw new ConfigError(at('points'), list, 'at least one point');
      let prev = -Infinity;
      const points = list.map((pt, i): [number, number] => {
        const p = `${at('points')}[${i}]`;
        const o = object(p, pt, 'an object { at, rate }');
        checkKeys(p, o, ['at', 'rate']);
        const t = finite(join(p, 'at'), o['at'], 0);
        if (t < prev) throw new ConfigError(join(p, 'at'), t, `a time >= the previous point's (${prev})`);
        prev = t;
        return [t, finite(join(p, 'rate'), o['rate'], 0)];
      });
      const step =
        oneOf(at('interpolate'), s['interpolate'] ?? 'linear', ['linear', 'step'] as const) === 'step';
      return { arrivals: new Thinned(piecewise(points, step, points[0]![1]), random), meanRate: Number.NaN };
    }
    case 'trace': {
      const hasRecords = s['records'] !== undefined;
      if (hasRecords === (s['text'] !== undefined)) {
        throw new ConfigError(path, s, 'a trace with exactly one of `records` or `text` (with `format`)');
      }
      let records: readonly TraceRecord[];
      if (hasRecords) {
        const list = array(at('records'), s['records'], 'an array of { at, duration?, priority?, ... }');
        records = checkRecords(list, at('records'));
      } else {
        if (s['format'] === undefined)
          throw new ConfigError(at('format'), undefined, 'one of "csv", "jsonl"');
        const format = oneOf(at('format'), s['format'], ['csv', 'jsonl'] as const);
        records = parseTrace(text(at('text'), s['text']), format, { source: at('text') });
      }
      const speed = s['speed'] === undefined ? 1 : positive(at('speed'), s['speed']);
      const loop = bool(at('loop'), s['loop'], false);
      return { arrivals: new Replay(records, speed, loop, start), meanRate: Number.NaN };
    }
  }
}

/** Checks records given inline (parsed traces are checked by `parseTrace`), sorting them stably by time. */
function checkRecords(list: readonly unknown[], path: string): TraceRecord[] {
  if (list.length === 0) throw new ConfigError(path, list, 'at least one record');
  const lines = list
    .map((r, i) => {
      if (!isPlainObject(r)) throw new ConfigError(`${path}[${i}]`, r, 'an object { at, ... }');
      return JSON.stringify(r);
    })
    .join('\n');
  // One parser for both forms, so that they accept the same fields and values. Line n is record n - 1.
  const records = parseTrace(lines, 'jsonl', { source: path, rebase: false });
  if (records[0]!.at < 0) throw new ConfigError(`${path}[].at`, records[0]!.at, 'times >= 0');
  return records;
}

/** A time-varying rate (requests/s) with a piecewise-constant upper bound, for thinning. */
interface Profile {
  rate(t: number): number;
  /** An upper bound of the rate from `t` until `until(t)`. */
  bound(t: number): number;
  until(t: number): number;
}

/** Piecewise-linear (or step) profile through `points`, flat at the ends. */
function piecewise(points: readonly (readonly [number, number])[], step: boolean, before: number): Profile {
  const ts = points.map((p) => p[0]);
  const rs = points.map((p) => p[1]);
  const n = ts.length;
  let i = 0; // segment hint: calls come with non-decreasing t
  const seek = (t: number): number => {
    if (i > 0 && t < ts[i - 1]!) i = 0;
    while (i < n && t >= ts[i]!) i++;
    return i; // t is in [ts[i-1], ts[i]); i = 0 before the first point, n after the last
  };
  return {
    rate(t) {
      const k = seek(t);
      if (k === 0) return before;
      if (k === n) return rs[n - 1]!;
      if (step) return rs[k - 1]!;
      const t0 = ts[k - 1]!;
      const span = ts[k]! - t0;
      return span === 0 ? rs[k]! : rs[k - 1]! + ((rs[k]! - rs[k - 1]!) * (t - t0)) / span;
    },
    bound(t) {
      const k = seek(t);
      if (k === 0) return before;
      if (k === n) return rs[n - 1]!;
      return step ? rs[k - 1]! : Math.max(rs[k - 1]!, rs[k]!);
    },
    until(t) {
      const k = seek(t);
      return k === n ? Infinity : ts[k]!;
    },
  };
}

/**
 * Non-homogeneous Poisson arrivals by thinning (Lewis and Shedler): candidates come at the bound's rate
 * and are kept with probability rate/bound. Past the end of a bound's span the exponential gap is simply
 * redrawn from the span's end, which memorylessness makes exact.
 */
class Thinned implements Arrivals {
  readonly #profile: Profile;
  readonly #random: Random;

  constructor(profile: Profile, random: Random) {
    this.#profile = profile;
    this.#random = random;
  }

  next(from: number): number {
    const p = this.#profile;
    const random = this.#random;
    let t = from;
    for (;;) {
      const max = p.bound(t);
      const until = p.until(t);
      if (!(max > 0)) {
        if (until === Infinity) return Infinity;
        t = until;
        continue;
      }
      const c = t + random.exponential(1000 / max);
      if (c >= until) {
        t = until;
        continue;
      }
      t = c;
      if (random.next() * max < p.rate(c)) return c;
    }
  }
}

/** Poisson arrivals whose rate follows a modulating chain of states, each held for a drawn time. */
class Modulated implements Arrivals {
  readonly #rates: readonly number[];
  readonly #holds: readonly (() => number)[];
  readonly #following: (state: number) => number;
  readonly #random: Random;
  #state = 0;
  #stateEnd: number;

  constructor(
    rates: readonly number[],
    holds: readonly (() => number)[],
    following: (state: number) => number,
    start: number,
    random: Random,
  ) {
    this.#rates = rates;
    this.#holds = holds;
    this.#following = following;
    this.#random = random;
    this.#stateEnd = start + holds[0]!();
  }

  next(from: number): number {
    let t = from;
    for (;;) {
      while (t >= this.#stateEnd) this.#advance();
      const rate = this.#rates[this.#state]!;
      if (rate > 0) {
        const c = t + this.#random.exponential(1000 / rate);
        if (c < this.#stateEnd) return c;
      }
      t = this.#stateEnd;
    }
  }

  #advance(): void {
    this.#state = this.#rates.length === 2 ? 1 - this.#state : this.#following(this.#state);
    this.#stateEnd += this.#holds[this.#state]!();
  }
}

/** Replays trace records in order, shifted to start at the source's start and scaled by `speed`. */
class Replay implements Arrivals {
  readonly #records: readonly TraceRecord[];
  readonly #speed: number;
  readonly #loop: boolean;
  readonly #span: number;
  #offset: number;
  #i = 0;
  record: TraceRecord | undefined = undefined;

  constructor(records: readonly TraceRecord[], speed: number, loop: boolean, start: number) {
    this.#records = records;
    this.#speed = speed;
    this.#loop = loop;
    // A looped trace repeats after its last arrival plus its mean gap, so the seam looks like the rest.
    const last = records[records.length - 1]!.at;
    this.#span = records.length > 1 ? last + last / (records.length - 1) : Math.max(last, 1);
    this.#offset = start;
  }

  next(): number {
    if (this.#i === this.#records.length) {
      if (!this.#loop) {
        this.record = undefined;
        return Infinity;
      }
      this.#i = 0;
      this.#offset += this.#span / this.#speed;
    }
    const r = this.#records[this.#i++]!;
    this.record = r;
    return this.#offset + r.at / this.#speed;
  }
}
