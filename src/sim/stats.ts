import { LatencyHistogram } from '../signals/histogram.ts';
import type { Answer, Attempt } from './request.ts';

/**
 * Streamed statistics. Everything is counted as it happens into fixed-size accumulators: per time bucket
 * (rolled lazily when time passes a bucket boundary) and for the summary. Latencies go into fixed-size
 * log-linear histograms (`LatencyHistogram` from signals: 4 KiB each, percentiles within 1.6%). Memory is
 * therefore independent of the number of requests; the series grow by one point per bucket, and the bucket
 * is widened up front so that a run has at most `maxBuckets` of them.
 * Per-request records are kept only when asked for (`record: true`).
 *
 * Counting conventions (all "per attempt": a retry is a new attempt):
 * - `offered`: attempts arriving; `retries` of them are retries.
 * - `admitted`: passed the policy; `shed`: refused by the policy (by reason and by priority).
 * - `success`, `errors`, `overload`, `timeouts`: how attempts ended for their callers (the first three are
 *   `completed`: answered by the downstream in time). `success` is the goodput; `successWithinSlo` those
 *   answered within the SLO latency. A timeout is the caller giving up (its patience, or the policy side's
 *   call timeout).
 * - `late`: downstream work that finished after its caller had stopped waiting: wasted capacity.
 * - Latency is from the attempt's arrival to its answer, for successes.
 * The summary counts attempts that arrived at or after `warmup`; the series count everything, by the time
 * the event happened.
 */

/** A latency digest, in ms; null when there was nothing to measure. */
export interface LatencySummary {
  readonly count: number;
  readonly mean: number | null;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
  readonly max: number | null;
}

export interface GaugeSummary {
  readonly mean: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

export interface CountsSummary {
  readonly offered: number;
  readonly success: number;
  readonly shed: number;
  readonly errors: number;
  readonly overload: number;
  readonly timeouts: number;
}

export interface SimSummary {
  /** Simulated time the summary covers (ms): the run's duration minus its warmup. */
  readonly duration: number;
  readonly warmup: number;
  readonly offered: number;
  readonly retries: number;
  readonly admitted: number;
  readonly shed: number;
  /** Attempts the downstream answered in time for their callers: success + errors + overload. */
  readonly completed: number;
  readonly success: number;
  readonly successWithinSlo: number;
  readonly errors: number;
  readonly overload: number;
  readonly timeouts: number;
  readonly late: number;
  /** Attempts still unanswered when the run ended. */
  readonly unanswered: number;
  /** Attempts offered per second. */
  readonly offeredRate: number;
  /** Successes per second. */
  readonly goodput: number;
  /** Successes within the SLO latency per second (equal to `goodput` without an SLO). */
  readonly goodputWithinSlo: number;
  readonly shedByReason: Readonly<Record<string, number>>;
  readonly shedByPriority: Readonly<Record<string, number>>;
  readonly byPriority: Readonly<Record<string, CountsSummary>>;
  readonly bySource: readonly (CountsSummary & { readonly name: string })[];
  /** Latency of successful attempts. */
  readonly latency: LatencySummary;
  /**
   * Client requests (an attempt and its retries): how many started, succeeded (on some attempt), failed
   * (gave up) or were still going at the end; latency from the first attempt to the success.
   */
  readonly clients: {
    readonly requests: number;
    readonly succeeded: number;
    readonly failed: number;
    readonly pending: number;
    readonly attemptsPerRequest: number | null;
    readonly latency: LatencySummary;
  };
  /** The SLO, and the share of client requests that succeeded within its latency. */
  readonly slo: {
    readonly latency: number;
    readonly target: number;
    readonly attainment: number | null;
    readonly met: boolean | null;
  } | null;
  /** The downstream's queue: how many attempts got a server, how many waited, and for how long. */
  readonly downstream: {
    readonly started: number;
    readonly waited: number;
    /** Share of started attempts that had to wait (the Erlang C probability for M/M/c). */
    readonly waitProbability: number | null;
    /** Mean wait for a server over all started attempts (ms). */
    readonly meanWait: number | null;
    readonly wait: LatencySummary;
  };
  /**
   * Gauges sampled over the run: the policy's (`limit`, `inflight`, `queued` for the limiter; `rate`,
   * `tokens` for the regulator; whatever a custom policy names) and the downstream's (`busy`, `backlog`,
   * `capacity`, `replicas`).
   */
  readonly gauges: Readonly<Record<string, GaugeSummary>>;
}

export interface SimSeries {
  /** Bucket width (ms). The last bucket may be shorter when the duration is not a multiple. */
  readonly bucket: number;
  /** Start time of each bucket (ms). */
  readonly time: number[];
  readonly offered: number[];
  readonly retries: number[];
  readonly admitted: number[];
  readonly shed: number[];
  /** Attempts the downstream answered in time for their callers (success + errors + overload). */
  readonly completed: number[];
  readonly success: number[];
  readonly successWithinSlo: number[];
  readonly errors: number[];
  readonly overload: number[];
  readonly timeouts: number[];
  readonly late: number[];
  readonly shedByReason: Record<string, number[]>;
  readonly shedByPriority: Record<string, number[]>;
  /** Latency of the successes answered in each bucket (ms); null in a bucket without one. */
  readonly latency: {
    readonly mean: (number | null)[];
    readonly p50: (number | null)[];
    readonly p90: (number | null)[];
    readonly p99: (number | null)[];
    readonly max: (number | null)[];
  };
  /** Mean of each gauge's samples in each bucket (see `SimSummary.gauges`). */
  readonly gauges: Record<string, (number | null)[]>;
}

/** One attempt, kept only with `record: true`. */
export interface SimRecord {
  readonly id: number;
  readonly source: number;
  readonly attempt: number;
  readonly priority: string | number | null;
  readonly arrivedAt: number;
  readonly admittedAt: number | null;
  readonly startedAt: number | null;
  readonly endedAt: number;
  readonly answer: Answer | 'shed';
  /** Why it was shed. */
  readonly reason: string | null;
  readonly latency: number;
}

export interface StatsOptions {
  readonly duration: number;
  readonly bucket: number;
  readonly warmup: number;
  readonly slo: { readonly latency: number; readonly target: number } | undefined;
  readonly gauges: readonly string[];
  readonly sources: readonly string[];
  readonly record: boolean;
}

class Counts {
  offered = 0;
  success = 0;
  shed = 0;
  errors = 0;
  overload = 0;
  timeouts = 0;

  add(answer: Answer): void {
    switch (answer) {
      case 'success':
        this.success++;
        break;
      case 'error':
        this.errors++;
        break;
      case 'overload':
        this.overload++;
        break;
      case 'timeout':
        this.timeouts++;
        break;
    }
  }

  toJSON(): CountsSummary {
    const { offered, success, shed, errors, overload, timeouts } = this;
    return { offered, success, shed, errors, overload, timeouts };
  }
}

/** @internal the accumulators behind a run's summary and series. */
export class Stats {
  readonly #o: StatsOptions;
  readonly #sloLatency: number;
  readonly #series: SimSeries;
  readonly #records: SimRecord[] | undefined;

  // Current bucket.
  #index = 0;
  #bucketEnd: number;
  #bOffered = 0;
  #bRetries = 0;
  #bAdmitted = 0;
  #bShed = 0;
  #bSuccess = 0;
  #bWithinSlo = 0;
  #bErrors = 0;
  #bOverload = 0;
  #bTimeouts = 0;
  #bLate = 0;
  readonly #bShedByReason = new Map<string, number>();
  readonly #bShedByPriority = new Map<string, number>();
  readonly #bLatency = new LatencyHistogram();
  readonly #bGaugeSum: number[];
  readonly #bGaugeCount: number[];

  // Summary (attempts that arrived at or after warmup).
  #offered = 0;
  #retries = 0;
  #admitted = 0;
  #shed = 0;
  #success = 0;
  #withinSlo = 0;
  #errors = 0;
  #overload = 0;
  #timeouts = 0;
  #late = 0;
  readonly #shedByReason = new Map<string, number>();
  readonly #shedByPriority = new Map<string, number>();
  readonly #byPriority = new Map<string, Counts>();
  readonly #bySource: Counts[];
  readonly #latency = new LatencyHistogram();
  #clients = 0;
  #clientsSucceeded = 0;
  #clientsWithinSlo = 0;
  #clientsFailed = 0;
  #clientAttempts = 0;
  readonly #clientLatency = new LatencyHistogram();
  #started = 0;
  #waited = 0;
  #waitSum = 0;
  readonly #wait = new LatencyHistogram();
  readonly #gaugeSum: number[];
  readonly #gaugeCount: number[];
  readonly #gaugeMin: number[];
  readonly #gaugeMax: number[];

  constructor(options: StatsOptions) {
    this.#o = options;
    this.#sloLatency = options.slo?.latency ?? Infinity;
    this.#bucketEnd = this.#endOf(0);
    const n = options.gauges.length;
    this.#bGaugeSum = new Array(n).fill(0);
    this.#bGaugeCount = new Array(n).fill(0);
    this.#gaugeSum = new Array(n).fill(0);
    this.#gaugeCount = new Array(n).fill(0);
    this.#gaugeMin = new Array(n).fill(Infinity);
    this.#gaugeMax = new Array(n).fill(-Infinity);
    this.#bySource = options.sources.map(() => new Counts());
    this.#records = options.record ? [] : undefined;
    this.#series = {
      bucket: options.bucket,
      time: [],
      offered: [],
      retries: [],
      admitted: [],
      shed: [],
      completed: [],
      success: [],
      successWithinSlo: [],
      errors: [],
      overload: [],
      timeouts: [],
      late: [],
      shedByReason: {},
      shedByPriority: {},
      latency: { mean: [], p50: [], p90: [], p99: [], max: [] },
      gauges: Object.fromEntries(options.gauges.map((g) => [g, []])),
    };
  }

  offered(r: Attempt, now: number): void {
    if (now >= this.#bucketEnd) this.#roll(now);
    this.#bOffered++;
    if (r.attempt > 0) this.#bRetries++;
    if (r.arrivedAt < this.#o.warmup) return;
    this.#offered++;
    this.#bySource[r.source]!.offered++;
    this.#priority(r).offered++;
    if (r.attempt > 0) this.#retries++;
  }

  /** A client request began (its first attempt arrived). */
  client(r: Attempt): void {
    if (r.firstArrivedAt >= this.#o.warmup) this.#clients++;
  }

  admitted(r: Attempt, now: number): void {
    if (now >= this.#bucketEnd) this.#roll(now);
    this.#bAdmitted++;
    if (r.arrivedAt >= this.#o.warmup) this.#admitted++;
  }

  shed(r: Attempt, reason: string, now: number): void {
    if (now >= this.#bucketEnd) this.#roll(now);
    const p = priorityLabel(r.priority);
    this.#bShed++;
    this.#bShedByReason.set(reason, (this.#bShedByReason.get(reason) ?? 0) + 1);
    this.#bShedByPriority.set(p, (this.#bShedByPriority.get(p) ?? 0) + 1);
    this.#records?.push(record(r, now, 'shed', reason));
    if (r.arrivedAt < this.#o.warmup) return;
    this.#shed++;
    this.#shedByReason.set(reason, (this.#shedByReason.get(reason) ?? 0) + 1);
    this.#shedByPriority.set(p, (this.#shedByPriority.get(p) ?? 0) + 1);
    this.#bySource[r.source]!.shed++;
    this.#priority(r).shed++;
  }

  /** The downstream gave `r` a server after `wait` ms in its queue. */
  started(r: Attempt, wait: number): void {
    if (r.arrivedAt < this.#o.warmup) return;
    this.#started++;
    if (wait > 0) {
      this.#waited++;
      this.#waitSum += wait;
    }
    this.#wait.record(wait);
  }

  /** The caller of `r` has its answer (or gave up). */
  answered(r: Attempt, answer: Answer, now: number): void {
    if (now >= this.#bucketEnd) this.#roll(now);
    const latency = now - r.arrivedAt;
    const counted = r.arrivedAt >= this.#o.warmup;
    this.#records?.push(record(r, now, answer, null));
    switch (answer) {
      case 'success': {
        this.#bSuccess++;
        this.#bLatency.record(latency);
        const within = latency <= this.#sloLatency;
        if (within) this.#bWithinSlo++;
        if (counted) {
          this.#success++;
          this.#latency.record(latency);
          if (within) this.#withinSlo++;
        }
        break;
      }
      case 'error':
        this.#bErrors++;
        if (counted) this.#errors++;
        break;
      case 'overload':
        this.#bOverload++;
        if (counted) this.#overload++;
        break;
      case 'timeout':
        this.#bTimeouts++;
        if (counted) this.#timeouts++;
        break;
    }
    if (counted) {
      this.#bySource[r.source]!.add(answer);
      this.#priority(r).add(answer);
    }
  }

  /** Downstream work for an attempt whose caller had already gone finished. */
  late(r: Attempt, now: number): void {
    if (now >= this.#bucketEnd) this.#roll(now);
    this.#bLate++;
    if (r.arrivedAt >= this.#o.warmup) this.#late++;
  }

  /** A client request is over: it succeeded on attempt `r`, or gave up after it. */
  finished(r: Attempt, succeeded: boolean, now: number): void {
    if (r.firstArrivedAt < this.#o.warmup) return;
    this.#clientAttempts += r.attempt + 1;
    if (succeeded) {
      this.#clientsSucceeded++;
      const latency = now - r.firstArrivedAt;
      this.#clientLatency.record(latency);
      if (latency <= this.#sloLatency) this.#clientsWithinSlo++;
    } else {
      this.#clientsFailed++;
    }
  }

  /** Gauge values, in the order of `options.gauges`; NaN for "not applicable now". */
  sample(now: number, values: readonly number[]): void {
    if (now >= this.#bucketEnd) this.#roll(now);
    const counted = now >= this.#o.warmup;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (Number.isNaN(v)) continue;
      this.#bGaugeSum[i]! += v;
      this.#bGaugeCount[i]!++;
      if (counted) {
        this.#gaugeSum[i]! += v;
        this.#gaugeCount[i]!++;
        if (v < this.#gaugeMin[i]!) this.#gaugeMin[i] = v;
        if (v > this.#gaugeMax[i]!) this.#gaugeMax[i] = v;
      }
    }
  }

  /** Closes the series at `duration` and computes the summary. */
  finish(unanswered: number): { summary: SimSummary; series: SimSeries; records: SimRecord[] | undefined } {
    const o = this.#o;
    while (this.#series.time.length * o.bucket < o.duration) this.#close();
    const seconds = (o.duration - o.warmup) / 1000;
    const rate = (n: number): number => (seconds > 0 ? n / seconds : 0);
    const gauges: Record<string, GaugeSummary> = {};
    o.gauges.forEach((g, i) => {
      const n = this.#gaugeCount[i]!;
      gauges[g] = {
        mean: n === 0 ? null : this.#gaugeSum[i]! / n,
        min: n === 0 ? null : this.#gaugeMin[i]!,
        max: n === 0 ? null : this.#gaugeMax[i]!,
      };
    });
    const finishedClients = this.#clientsSucceeded + this.#clientsFailed;
    const slo = o.slo;
    const attainment = this.#clients === 0 ? null : this.#clientsWithinSlo / this.#clients;
    const summary: SimSummary = {
      duration: o.duration - o.warmup,
      warmup: o.warmup,
      offered: this.#offered,
      retries: this.#retries,
      admitted: this.#admitted,
      shed: this.#shed,
      completed: this.#success + this.#errors + this.#overload,
      success: this.#success,
      successWithinSlo: this.#withinSlo,
      errors: this.#errors,
      overload: this.#overload,
      timeouts: this.#timeouts,
      late: this.#late,
      unanswered,
      offeredRate: rate(this.#offered),
      goodput: rate(this.#success),
      goodputWithinSlo: rate(this.#withinSlo),
      shedByReason: Object.fromEntries(this.#shedByReason),
      shedByPriority: Object.fromEntries(this.#shedByPriority),
      byPriority: Object.fromEntries([...this.#byPriority].map(([k, c]) => [k, c.toJSON()])),
      bySource: o.sources.map((name, i) => ({ name, ...this.#bySource[i]!.toJSON() })),
      latency: digest(this.#latency),
      clients: {
        requests: this.#clients,
        succeeded: this.#clientsSucceeded,
        failed: this.#clientsFailed,
        pending: this.#clients - finishedClients,
        attemptsPerRequest: finishedClients === 0 ? null : this.#clientAttempts / finishedClients,
        latency: digest(this.#clientLatency),
      },
      slo:
        slo === undefined
          ? null
          : {
              latency: slo.latency,
              target: slo.target,
              attainment,
              met: attainment === null ? null : attainment >= slo.target,
            },
      downstream: {
        started: this.#started,
        waited: this.#waited,
        waitProbability: this.#started === 0 ? null : this.#waited / this.#started,
        meanWait: this.#started === 0 ? null : this.#waitSum / this.#started,
        wait: digest(this.#wait),
      },
      gauges,
    };
    return { summary, series: this.#series, records: this.#records };
  }

  #priority(r: Attempt): Counts {
    const p = priorityLabel(r.priority);
    let c = this.#byPriority.get(p);
    if (c === undefined) {
      c = new Counts();
      this.#byPriority.set(p, c);
    }
    return c;
  }

  /** Closes buckets until `now` falls in the current one. */
  #roll(now: number): void {
    while (now >= this.#bucketEnd) this.#close();
  }

  #close(): void {
    const s = this.#series;
    const k = s.time.length;
    s.time.push(this.#index * this.#o.bucket);
    s.offered.push(this.#bOffered);
    s.retries.push(this.#bRetries);
    s.admitted.push(this.#bAdmitted);
    s.shed.push(this.#bShed);
    s.completed.push(this.#bSuccess + this.#bErrors + this.#bOverload);
    s.success.push(this.#bSuccess);
    s.successWithinSlo.push(this.#bWithinSlo);
    s.errors.push(this.#bErrors);
    s.overload.push(this.#bOverload);
    s.timeouts.push(this.#bTimeouts);
    s.late.push(this.#bLate);
    closeMap(s.shedByReason, this.#bShedByReason, k);
    closeMap(s.shedByPriority, this.#bShedByPriority, k);
    const h = this.#bLatency;
    if (h.count === 0) {
      for (const list of Object.values(s.latency)) list.push(null);
    } else {
      const d = h.snapshot();
      s.latency.mean.push(d.mean);
      s.latency.p50.push(d.p50);
      s.latency.p90.push(d.p90);
      s.latency.p99.push(d.p99);
      s.latency.max.push(d.max);
      h.reset();
    }
    this.#o.gauges.forEach((g, i) => {
      const n = this.#bGaugeCount[i]!;
      s.gauges[g]!.push(n === 0 ? null : this.#bGaugeSum[i]! / n);
      this.#bGaugeSum[i] = 0;
      this.#bGaugeCount[i] = 0;
    });
    this.#bOffered = 0;
    this.#bRetries = 0;
    this.#bAdmitted = 0;
    this.#bShed = 0;
    this.#bSuccess = 0;
    this.#bWithinSlo = 0;
    this.#bErrors = 0;
    this.#bOverload = 0;
    this.#bTimeouts = 0;
    this.#bLate = 0;
    this.#index++;
    this.#bucketEnd = this.#endOf(this.#index);
  }

  /** End of bucket `i`; the last bucket takes every event up to and including the end of the run. */
  #endOf(i: number): number {
    const end = (i + 1) * this.#o.bucket;
    return end >= this.#o.duration ? Infinity : end;
  }
}

/** Appends this bucket's counts to per-key series, creating a key's series (zeros before) on first sight. */
function closeMap(target: Record<string, number[]>, counts: Map<string, number>, k: number): void {
  for (const key of counts.keys()) {
    if (target[key] === undefined) target[key] = new Array(k).fill(0);
  }
  for (const [key, list] of Object.entries(target)) list.push(counts.get(key) ?? 0);
  counts.clear();
}

export function priorityLabel(priority: string | number | undefined): string {
  return priority === undefined ? 'default' : String(priority);
}

function digest(h: LatencyHistogram): LatencySummary {
  const s = h.snapshot();
  if (s.count === 0) return { count: 0, mean: null, p50: null, p90: null, p99: null, p999: null, max: null };
  return {
    count: s.count,
    mean: s.mean,
    p50: s.p50,
    p90: s.p90,
    p99: s.p99,
    p999: h.percentile(0.999),
    max: s.max,
  };
}

function record(r: Attempt, now: number, answer: Answer | 'shed', reason: string | null): SimRecord {
  return {
    id: r.id,
    source: r.source,
    attempt: r.attempt,
    priority: r.priority ?? null,
    arrivedAt: r.arrivedAt,
    admittedAt: Number.isNaN(r.admittedAt) ? null : r.admittedAt,
    startedAt: Number.isNaN(r.startedAt) ? null : r.startedAt,
    endedAt: now,
    answer,
    reason,
    latency: now - r.arrivedAt,
  };
}
