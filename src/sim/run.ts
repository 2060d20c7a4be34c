import { ConfigError, isConfigError } from '../core/errors.ts';
import { bool, checkKeys, object } from '../core/spec.ts';
import { finite, fraction, integer, positive } from '../core/validate.ts';
import { Deque } from './deque.ts';
import { Downstream, type DownstreamControl, type DownstreamSpec } from './downstream.ts';
import { Engine } from './engine.ts';
import { builtinPolicies } from './policies.ts';
import {
  type AttemptEnd,
  buildPolicy,
  DEFAULT_SETTLE_ROUNDS,
  type PolicyFactory,
  type PolicyGate,
  type SimPolicy,
} from './policy.ts';
import { Random } from './random.ts';
import { type Answer, Attempt, type Response, type SimRequest } from './request.ts';
import { type SimRecord, type SimSeries, type SimSummary, Stats } from './stats.ts';
import { type RetryOn, type Source, sources, type WorkloadSpec } from './workload.ts';

/**
 * A scenario: plain data (it comes from YAML or JSON), validated on use with errors that name the path of
 * the bad value (`workload[1].rate`). Times are milliseconds of simulated time; rates requests per second.
 *
 * ```ts
 * const result = await simulate({
 *   seed: 42,
 *   duration: 60_000,
 *   workload: { type: 'poisson', rate: 900 },
 *   downstream: { service: { type: 'lognormal', median: 20, p99: 120 }, concurrency: 20 },
 *   policy: { type: 'limiter', limit: { algorithm: 'gradient2' } },
 *   slo: { latency: 250 },
 * });
 * ```
 */
export interface Scenario {
  /** Name for reports. */
  readonly name?: string;
  /** Free text for reports. */
  readonly description?: string;
  /** Seed of every random stream. Same seed, same result. Default 1. */
  readonly seed?: number | string;
  /** Simulated time to run (ms). */
  readonly duration: number;
  /** Time at the start left out of the summary (ms); the series still show it. Default 0. */
  readonly warmup?: number;
  /** Width of a series bucket (ms). Default 1000. */
  readonly bucket?: number;
  /** Most buckets a run keeps; a longer run widens its buckets (by whole multiples). Default 10,000. */
  readonly maxBuckets?: number;
  /** Interval between gauge samples (ms). Default a tenth of the bucket. */
  readonly sampleEvery?: number;
  /** One workload source, or several superposed. */
  readonly workload: WorkloadSpec | readonly WorkloadSpec[];
  readonly downstream: DownstreamSpec;
  /** One policy, or a pipeline of them. Default `{ type: "none" }`. */
  readonly policy?: PolicySpec | readonly PolicySpec[];
  /** Latency objective: `latency` in ms, `target` the share of client requests to meet it (default 0.99). */
  readonly slo?: { readonly latency: number; readonly target?: number };
  /** Keep one record per attempt in the result (memory grows with the run). Default false. */
  readonly record?: boolean;
}

/** A policy as it appears in a scenario: built-in types are documented in `policies.ts`. */
export type PolicySpec = { readonly type: string } & Readonly<Record<string, unknown>>;

export interface SimulateOptions {
  /** Extra policy types (or replacements for built-in ones), by `type` name. */
  readonly policies?: Readonly<Record<string, PolicyFactory>> | undefined;
  /** Aborts the run; `simulate` then rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Called as simulated time passes (once per bucket), e.g. for a progress bar. */
  readonly onProgress?: ((now: number, duration: number) => void) | undefined;
  /** See `EngineOptions.settleRounds`. Default: what the policy declares (`SimPolicy.settleRounds`). */
  readonly settleRounds?: number | undefined;
  /** See `EngineOptions.errorStacks`. Default false. */
  readonly errorStacks?: boolean | undefined;
}

/** Settings the run used, echoed for reports. */
export interface SimSettings {
  readonly name: string | null;
  readonly description: string | null;
  readonly seed: number | string;
  readonly duration: number;
  readonly warmup: number;
  /** Bucket width actually used (may be wider than asked, see `maxBuckets`). */
  readonly bucket: number;
  readonly policy: string;
  readonly sources: readonly {
    readonly name: string;
    readonly type: string;
    readonly meanRate: number | null;
  }[];
  readonly downstream: {
    readonly service: string;
    readonly meanService: number | null;
    readonly concurrency: number | null;
  };
  readonly slo: { readonly latency: number; readonly target: number } | null;
}

export interface SimResult {
  readonly settings: SimSettings;
  readonly summary: SimSummary;
  readonly series: SimSeries;
  /** Events run (simulation work done; deterministic). */
  readonly events: number;
  /** One record per finished attempt, with `record: true`. */
  readonly records?: readonly SimRecord[];
}

/** Runs a scenario to its end. Rejects with a `ConfigError` naming the bad value of an invalid scenario. */
export function simulate(scenario: Scenario, options: SimulateOptions = {}): Promise<SimResult> {
  return new Simulation(scenario, options).run();
}

const SCENARIO_KEYS = [
  'name',
  'description',
  'seed',
  'duration',
  'warmup',
  'bucket',
  'maxBuckets',
  'sampleEvery',
  'workload',
  'downstream',
  'policy',
  'slo',
  'record',
];

/**
 * One run of a scenario. Building it validates the whole scenario; `run()` may be called once. The
 * constructor is where everything is wired: workload sources feed attempts to the policy, the policy's
 * gate sends them to the downstream, and every outcome is streamed into the statistics.
 */
export class Simulation {
  readonly engine: Engine;
  readonly downstream: DownstreamControl;
  readonly policy: SimPolicy;
  readonly #duration: number;
  readonly #settings: SimSettings;
  readonly #sources: Source[];
  readonly #stats: Stats;
  readonly #down: Downstream;
  readonly #workRandom: Random[];
  readonly #attrRandom: Random[];
  readonly #retryRandom: Random[];
  readonly #warmup: number;
  readonly #sampleEvery: number;
  readonly #bucket: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onProgress: ((now: number, duration: number) => void) | undefined;
  readonly #gate: PolicyGate;
  /** Client deadlines, one queue per source (each source has one patience, so deadlines come in order). */
  readonly #patience: Deadlines[];
  /** Call timeouts, in order of admission. */
  readonly #callTimeouts: Deadlines;
  #nextId = 0;
  /** Attempts (arrived at or after warmup) whose caller has no answer yet. */
  #open = 0;
  #ran = false;

  constructor(scenario: Scenario, options: SimulateOptions = {}) {
    const s = object('scenario', scenario, 'a scenario object ({ duration, workload, downstream, ... })');
    checkKeys('', s, SCENARIO_KEYS);
    const given = s['seed'] ?? 1;
    if (typeof given === 'number' ? !Number.isFinite(given) : typeof given !== 'string') {
      throw new ConfigError('seed', given, 'a finite number or a string');
    }
    const seed = given as number | string;
    const duration = positive('duration', s['duration']);
    this.#duration = duration;
    this.#warmup = s['warmup'] === undefined ? 0 : finite('warmup', s['warmup'], 0, duration);
    const asked = s['bucket'] === undefined ? 1000 : positive('bucket', s['bucket']);
    const maxBuckets = s['maxBuckets'] === undefined ? 10_000 : integer('maxBuckets', s['maxBuckets'], 1);
    this.#bucket = asked * Math.max(1, Math.ceil(duration / (asked * maxBuckets)));
    this.#sampleEvery =
      s['sampleEvery'] === undefined ? this.#bucket / 10 : positive('sampleEvery', s['sampleEvery']);
    const record = bool('record', s['record'], false);
    let slo: { latency: number; target: number } | undefined;
    if (s['slo'] !== undefined) {
      const o = object('slo', s['slo'], 'an object { latency, target? }');
      checkKeys('slo', o, ['latency', 'target']);
      slo = {
        latency: positive('slo.latency', o['latency']),
        target: o['target'] === undefined ? 0.99 : fraction('slo.target', o['target']),
      };
    }
    const name = s['name'] === undefined ? null : String(s['name']);
    const description = s['description'] === undefined ? null : String(s['description']);

    this.engine = new Engine(options.errorStacks === undefined ? {} : { errorStacks: options.errorStacks });
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    this.#sources = sources(s['workload'], 'workload', seed);
    const n = this.#sources.length;
    this.#workRandom = this.#sources.map((_, i) => new Random(seed, `work/${i}`));
    this.#attrRandom = this.#sources.map((_, i) => new Random(seed, `attributes/${i}`));
    this.#retryRandom = this.#sources.map((_, i) => new Random(seed, `retries/${i}`));
    if (s['downstream'] === undefined)
      throw new ConfigError('downstream', undefined, 'a downstream object ({ service, ... })');
    this.#down = new Downstream(
      s['downstream'],
      'downstream',
      this.engine,
      {
        started: (r, wait) => this.#stats.started(r, wait),
        responded: (r, response) => this.#responded(r, response),
      },
      new Random(seed, 'downstream'),
      new Random(seed, 'startup'),
    );
    this.downstream = this.#down;
    this.#patience = this.#sources.map(
      () =>
        new Deadlines(
          this.engine,
          (r) => r.deadline,
          (r) => r.answered,
          (r) => this.#giveUp(r),
        ),
    );
    this.#callTimeouts = new Deadlines(
      this.engine,
      (r) => r.admittedAt + this.#down.timeout,
      (r) => r.settled,
      (r) => this.#callTimeout(r),
    );
    const factories = { ...builtinPolicies, ...options.policies };
    this.policy = buildPolicy(
      s['policy'],
      'policy',
      {
        clock: this.engine.clock,
        random: new Random(seed, 'policy'),
        downstream: this.#down,
        track: (promise, onValue, onError) => this.engine.track(promise, onValue, onError),
        hold: (request, onEnd) => this.#hold(request as Attempt, onEnd),
        retry: (request, onEnd) => this.#retryInCall(request as Attempt, onEnd),
        conclude: (request) => this.#conclude(request as Attempt, 'conclude'),
      },
      factories,
    );
    this.engine.settleRounds = options.settleRounds ?? this.policy.settleRounds ?? DEFAULT_SETTLE_ROUNDS;
    const gauges = [...this.policy.gaugeNames, 'busy', 'backlog', 'capacity', 'replicas'];
    this.#stats = new Stats({
      duration,
      bucket: this.#bucket,
      warmup: this.#warmup,
      slo,
      gauges,
      sources: this.#sources.map((x) => x.name),
      record,
    });
    this.#gate = {
      admit: (request, token) => this.#admit(request as Attempt, token),
      reject: (request, reason, retryAfterMs) =>
        this.#reject(request as Attempt, reason, retryAfterMs ?? Number.NaN),
    };
    const concurrency = this.#down.concurrency;
    this.#settings = {
      name,
      description,
      seed,
      duration,
      warmup: this.#warmup,
      bucket: this.#bucket,
      policy: this.policy.name,
      sources: this.#sources.map((x) => ({ name: x.name, type: x.type, meanRate: nullable(x.meanRate) })),
      downstream: {
        service: this.#down.service.label,
        meanService: nullable(this.#down.service.mean),
        concurrency: concurrency === Infinity ? null : concurrency,
      },
      slo: slo ?? null,
    };
    for (let i = 0; i < n; i++) this.#startSource(this.#sources[i]!);
    this.#startSampler();
  }

  /** Runs the scenario to its end and returns the result. */
  async run(): Promise<SimResult> {
    if (this.#ran) throw new Error('sluice: a Simulation runs once; create another to run again');
    this.#ran = true;
    await this.engine.run(this.#duration, this.#signal === undefined ? {} : { signal: this.#signal });
    const { summary, series, records } = this.#stats.finish(this.#open);
    const result: SimResult = { settings: this.#settings, summary, series, events: this.engine.events };
    return records === undefined ? result : { ...result, records };
  }

  #startSource(source: Source): void {
    const engine = this.engine;
    const duration = this.#duration;
    let t = source.next(source.start);
    const fire = (): void => {
      this.#arrive(source, t);
      t = source.next(t);
      if (t <= duration) engine.at(t, fire);
    };
    if (t <= duration) engine.at(t, fire);
  }

  #arrive(source: Source, now: number): void {
    const i = source.index;
    const random = this.#attrRandom[i]!;
    const rec = source.record;
    const priority = rec?.priority ?? source.priority?.sample(random);
    const weight = rec?.weight ?? source.weight?.sample(random) ?? 1;
    const key = rec?.key ?? source.key?.sample(random);
    const partition = source.partition?.sample(random);
    const work = rec?.duration ?? (source.work ?? this.#down.service).sample(this.#workRandom[i]!);
    const r = new Attempt(
      this.#nextId++,
      i,
      0,
      now,
      now,
      priority,
      weight,
      key,
      partition,
      now + source.timeout,
      work,
      rec?.outcome,
    );
    this.#stats.client(r);
    this.#send(r);
  }

  /**
   * Offers an attempt (first or retry) to the policy. A retry sent by a policy inside a call keeps the
   * call's deadline, which breaks the arrival order the per-source patience queue relies on: it gets a
   * timer of its own.
   */
  #send(r: Attempt, inOrder = true): void {
    const now = r.arrivedAt;
    this.#stats.offered(r, now);
    if (r.arrivedAt >= this.#warmup) this.#open++;
    if (r.deadline !== Infinity) {
      if (inOrder) this.#patience[r.source]!.add(r);
      else this.engine.at(r.deadline, () => this.#giveUp(r));
    }
    try {
      this.policy.offer(r, this.#gate);
    } catch (error) {
      // A component refusing a request's attributes (a priority level it does not have) is a scenario error.
      if (isConfigError(error) && ['priority', 'weight', 'partition', 'key'].includes(error.option)) {
        const path = `${this.#sources[r.source]!.path}.${error.option}`;
        throw new ConfigError(path, error.value, error.expected);
      }
      throw error;
    }
  }

  #admit(r: Attempt, token: unknown): void {
    const now = this.engine.now;
    r.token = token;
    r.admittedAt = now;
    this.#stats.admitted(r, now);
    if (this.#down.timeout !== Infinity) this.#callTimeouts.add(r);
    this.#down.submit(r);
  }

  #reject(r: Attempt, reason: string, retryAfterMs: number): void {
    if (r.answered) return; // its caller has already given up: nobody hears this "no"
    const now = this.engine.now;
    // A "no" at the very moment the client gives up (a limiter's deadline) reaches nobody either.
    if (now >= r.deadline) {
      this.#giveUp(r);
      return;
    }
    this.#answer(r);
    this.#stats.shed(r, reason, now);
    this.#ended(r, 'shed', reason, retryAfterMs);
  }

  #responded(r: Attempt, response: Response): void {
    const now = this.engine.now;
    if (!r.settled) {
      // An answer exactly at the call timeout is a timeout, whichever event happens to run first.
      if (now - r.admittedAt >= this.#down.timeout) this.#callTimeout(r);
      else {
        r.settled = true;
        this.policy.settle(r, r.token, response, now - r.admittedAt);
      }
    }
    if (!r.answered && now >= r.deadline) this.#giveUp(r);
    if (r.answered) {
      this.#stats.late(r, now);
      return;
    }
    this.#answer(r);
    this.#stats.answered(r, response, now);
    this.#ended(r, response, undefined, Number.NaN);
  }

  /** The call timeout: the policy's side stops waiting; the downstream goes on with the work. */
  #callTimeout(r: Attempt): void {
    if (r.settled) return;
    r.settled = true;
    const now = this.engine.now;
    this.policy.settle(r, r.token, 'timeout', now - r.admittedAt);
    if (r.answered) return;
    this.#answer(r);
    this.#stats.answered(r, 'timeout', now);
    this.#ended(r, 'timeout', undefined, Number.NaN);
  }

  /** The client's patience ran out. Whatever the policy or downstream do with the attempt now is wasted. */
  #giveUp(r: Attempt): void {
    if (r.answered) return;
    this.#answer(r);
    this.#stats.answered(r, 'timeout', this.engine.now);
    this.#ended(r, 'timeout', undefined, Number.NaN);
  }

  #answer(r: Attempt): void {
    r.answered = true;
    if (r.arrivedAt >= this.#warmup) this.#open--;
  }

  /**
   * The attempt has ended for its caller. Its client request ends with it, unless a policy holds the call
   * (it retries inside it, see `PolicyContext.hold`): the policy then hears the end, and later sends a retry
   * or concludes the call.
   */
  #ended(r: Attempt, answer: Answer | 'shed', reason: string | undefined, retryAfterMs: number): void {
    r.end = answer;
    r.retryAfterMs = retryAfterMs;
    const onEnd = r.onEnd;
    if (onEnd === undefined) {
      this.#conclude(r, undefined);
      return;
    }
    r.onEnd = undefined;
    onEnd({ request: r, answer, reason, retryAfterMs });
  }

  /** The client request ends with attempt `r`: it succeeded, or its client reacts to the failure. */
  #conclude(r: Attempt, by: string | undefined): void {
    const end = r.end;
    if (by !== undefined && (end === undefined || r.concluded || r.onEnd !== undefined)) {
      throw new Error(`sluice sim: ${by}(attempt ${r.id}) on an attempt that has not ended, or twice`);
    }
    r.concluded = true;
    if (end === 'success') this.#stats.finished(r, true, this.engine.now);
    else this.#failed(r, end!, r.retryAfterMs);
  }

  #hold(r: Attempt, onEnd: (end: AttemptEnd) => void): void {
    if (r.end !== undefined) throw new Error(`sluice sim: hold(attempt ${r.id}) after it ended`);
    r.onEnd = onEnd;
  }

  /** A retry inside a held call: the next attempt, now, with the call's deadline. */
  #retryInCall(prev: Attempt, onEnd: (end: AttemptEnd) => void): Attempt {
    if (prev.end === undefined || prev.concluded || prev.onEnd !== undefined) {
      throw new Error(`sluice sim: retry(attempt ${prev.id}) of an attempt that has not ended, or twice`);
    }
    prev.concluded = true;
    const at = this.engine.now;
    const next = new Attempt(
      this.#nextId++,
      prev.source,
      prev.attempt + 1,
      at,
      prev.firstArrivedAt,
      prev.priority,
      prev.weight,
      prev.key,
      prev.partition,
      prev.deadline,
      prev.work,
      prev.forced,
    );
    next.call = prev.call;
    next.onEnd = onEnd;
    this.#send(next, false);
    return next;
  }

  /** The call failed: the client retries if its workload says so, else the client request has failed. */
  #failed(r: Attempt, failure: RetryOn, retryAfterMs: number): void {
    const source = this.#sources[r.source]!;
    const retry = source.retry;
    const now = this.engine.now;
    if (retry === undefined || r.call >= retry.attempts || !retry.retries(failure)) {
      this.#stats.finished(r, false, now);
      return;
    }
    const delay = retry.delay(r.call + 1, retryAfterMs, this.#retryRandom[r.source]!);
    this.engine.after(delay, () => {
      const at = this.engine.now;
      const next = new Attempt(
        this.#nextId++,
        r.source,
        r.attempt + 1,
        at,
        r.firstArrivedAt,
        r.priority,
        r.weight,
        r.key,
        r.partition,
        at + source.timeout,
        r.work,
        r.forced,
      );
      next.call = r.call + 1;
      this.#send(next);
    });
  }

  #startSampler(): void {
    const engine = this.engine;
    const every = this.#sampleEvery;
    const perBucket = Math.max(1, Math.round(this.#bucket / every));
    const duration = this.#duration;
    const down = this.#down;
    const policy = this.policy;
    let k = 0;
    const tick = (): void => {
      const now = k * every;
      const values = [...policy.gauges(), down.busy, down.queued, down.capacity, down.replicas];
      this.#stats.sample(
        now,
        values.map((v) => (v === Infinity ? Number.NaN : v)),
      );
      if (this.#onProgress !== undefined && k % perBucket === 0) this.#onProgress(now, duration);
      k++;
      if (k * every <= duration) engine.at(k * every, tick);
    };
    engine.at(0, tick);
  }
}

/**
 * Timeouts of one kind that fall due in the order they were added (a constant patience after an
 * arrival, a constant call timeout after an admission), kept in a FIFO with a single timer armed for the
 * earliest: O(1) per attempt, where a timer each would cost a heap entry each, most of them cancelled.
 */
class Deadlines {
  readonly #engine: Engine;
  readonly #due: (r: Attempt) => number;
  readonly #done: (r: Attempt) => boolean;
  readonly #expire: (r: Attempt) => void;
  readonly #queue = new Deque<Attempt>();
  #armed = false;

  constructor(
    engine: Engine,
    due: (r: Attempt) => number,
    done: (r: Attempt) => boolean,
    expire: (r: Attempt) => void,
  ) {
    this.#engine = engine;
    this.#due = due;
    this.#done = done;
    this.#expire = expire;
  }

  add(r: Attempt): void {
    this.#queue.push(r);
    if (!this.#armed) this.#arm();
  }

  #arm(): void {
    const queue = this.#queue;
    while (queue.size > 0 && this.#done(queue.peek()!)) queue.shift();
    const head = queue.peek();
    this.#armed = head !== undefined;
    if (head !== undefined) this.#engine.at(this.#due(head), this.#fire);
  }

  readonly #fire = (): void => {
    const now = this.#engine.now;
    const queue = this.#queue;
    for (let r = queue.peek(); r !== undefined && this.#due(r) <= now; r = queue.peek()) {
      queue.shift();
      if (!this.#done(r)) this.#expire(r);
    }
    this.#arm();
  };
}

function nullable(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

export type { SimRequest };
