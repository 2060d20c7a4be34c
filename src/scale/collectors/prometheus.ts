import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { finite, oneOf } from '../../core/validate.ts';
import type { Readings } from '../types.ts';
import { CollectorError } from './errors.ts';
import {
  isCumulative,
  isPlainSample,
  matches,
  parseExposition,
  parseSelector,
  type Sample,
  type Selector,
  seriesKey,
} from './prometheus-text.ts';
import {
  type AsyncCollector,
  clockOption,
  collectorName,
  excerpt,
  failure,
  messageOf,
  objectOption,
} from './shared.ts';

/** How the series a selector matches combine into one reading. */
export type Aggregate = 'sum' | 'avg' | 'max' | 'min' | 'single';

const AGGREGATES: readonly Aggregate[] = ['sum', 'avg', 'max', 'min', 'single'];

/** One reading of a scrape: which series, and how they combine. */
export interface MetricSelection {
  /**
   * A series selector in PromQL's syntax: `http_requests_total{code=~"5..", route!="/health"}`. Regular
   * expressions are anchored at both ends, as in PromQL.
   */
  readonly series: string;
  /**
   * `"sum"`, `"avg"`, `"max"` or `"min"` over the matched series, or `"single"`: exactly one series must
   * match (more fails the collect, naming them). Default `"sum"`.
   */
  readonly aggregate?: Aggregate;
  /**
   * Whether the reading is the per-second rate of the series between two scrapes. `"auto"` rates the
   * cumulative series (counters; histogram and summary `_count`, `_sum`, `_bucket`) and reads the others
   * as they are. Default `"auto"`.
   */
  readonly rate?: boolean | 'auto';
}

/** What a reading is when no series matches (or a query returns nothing): a number, or `"error"`. */
export type Absent = number | 'error';

export interface PrometheusCollectorOptions {
  /** The metrics endpoint, e.g. `"http://127.0.0.1:9464/metrics"`. */
  readonly url: string | URL;
  /**
   * Readings by name: a series selector, or a `MetricSelection`. Default: every sample name summed over
   * its series (histogram buckets, summary quantiles and `_created` series left out), counters as
   * per-second rates, each reading named after its samples.
   */
  readonly metrics?: Readonly<Record<string, string | MetricSelection>>;
  /**
   * A reading whose selector matches no series: this number, or `"error"` to fail the collect. An idle
   * service often exports no series for a label value that has not occurred yet. Default 0.
   */
  readonly absent?: Absent;
  /** Extra request headers, e.g. `{ authorization: 'Bearer ...' }`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Names the collector in decision records. Default `"prometheus"`. */
  readonly name?: string;
  /** Times the intervals between scrapes for the rates. Default the system clock. */
  readonly clock?: Clock;
}

interface Pick {
  readonly reading: string;
  readonly text: string;
  readonly selector: Selector;
  readonly aggregate: Aggregate;
  readonly rate: boolean | 'auto';
}

/** The classic text format first; the OpenMetrics text has the same sample syntax. */
const ACCEPT = 'text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1';

/**
 * Scrapes a Prometheus metrics endpoint (the text exposition format) and reads series from it: picked by
 * name and label matchers, summed or picked, and counters turned into per-second rates between two
 * scrapes. A rate needs two scrapes, so a rated reading is absent from the first collect; a counter that
 * went down was reset, and counts from zero (as in PromQL's `rate`).
 *
 * ```ts
 * prometheusCollector({
 *   url: 'http://127.0.0.1:9464/metrics',
 *   metrics: {
 *     rps: 'http_requests_total',                                  // a counter: requests per second
 *     errors: 'http_requests_total{code=~"5.."}',
 *     busy: { series: 'pool_busy_workers{pool="jobs"}', aggregate: 'single' },
 *   },
 * });
 * ```
 *
 * The request takes the collect's abort signal. For queries over many targets or windows longer than
 * the tick, use `promqlCollector` against a Prometheus server instead.
 */
export function prometheusCollector(options: PrometheusCollectorOptions): AsyncCollector {
  objectOption('options', options);
  const url = urlOption('url', options.url);
  const name = collectorName(options.name, 'prometheus');
  const clock = clockOption(options.clock);
  const absent = absentOption(options.absent);
  const headers = headersOption(options.headers);
  const picks = options.metrics === undefined ? undefined : picksOption(options.metrics);

  // Cumulative values of the last scrape, by reading and series; replaced whole on each scrape, so series
  // that disappear are forgotten and memory stays bounded by what one scrape holds.
  let last = new Map<string, number>();
  let lastAt = Number.NaN;

  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      const text = await request(
        name,
        `GET ${url}`,
        url,
        { headers: { accept: ACCEPT, ...headers } },
        signal,
      );
      const now = clock.now();
      let exposition: ReturnType<typeof parseExposition>;
      try {
        exposition = parseExposition(text);
      } catch (error) {
        throw new CollectorError(name, `GET ${url} returned malformed metrics: ${messageOf(error)}`, {
          cause: error,
        });
      }
      const { samples, types } = exposition;
      const elapsed = now - lastAt;
      const next = new Map<string, number>();
      const readings: Record<string, number> = {};

      const read = (
        reading: string,
        matched: readonly Sample[],
        rate: boolean,
        aggregate: Aggregate,
      ): void => {
        const values: number[] = [];
        for (const s of matched) {
          if (!rate) {
            values.push(s.value);
            continue;
          }
          const key = `${reading}\u0000${seriesKey(s)}`;
          next.set(key, s.value);
          const previous = last.get(key);
          if (previous === undefined || !(elapsed > 0)) continue;
          // A counter that went down was reset to zero in between: all of its value is new.
          const increase = s.value >= previous ? s.value - previous : s.value;
          values.push((increase * 1000) / elapsed);
        }
        const value = combine(values, aggregate);
        if (value !== undefined) readings[reading] = value;
      };

      if (picks === undefined) {
        const byName = new Map<string, Sample[]>();
        for (const s of samples) {
          if (!isPlainSample(s, types)) continue;
          const list = byName.get(s.name);
          if (list === undefined) byName.set(s.name, [s]);
          else list.push(s);
        }
        for (const [sampleName, matched] of byName)
          read(sampleName, matched, isCumulative(sampleName, types), 'sum');
      } else {
        for (const pick of picks) {
          const matched = samples.filter((s) => matches(pick.selector, s));
          if (matched.length === 0) {
            if (absent === 'error') {
              throw new CollectorError(
                name,
                `no series matches ${pick.text} (reading "${pick.reading}") at ${url}`,
              );
            }
            readings[pick.reading] = absent;
            continue;
          }
          if (pick.aggregate === 'single' && matched.length > 1) {
            const some = matched.slice(0, 3).map(describeSeries).join(', ');
            throw new CollectorError(
              name,
              `${pick.text} (reading "${pick.reading}") must match one series, matched ${matched.length}: ${some}${matched.length > 3 ? ', …' : ''}`,
            );
          }
          const rate = pick.rate === 'auto' ? matched.every((s) => isCumulative(s.name, types)) : pick.rate;
          read(pick.reading, matched, rate, pick.aggregate);
        }
      }
      last = next;
      lastAt = now;
      return readings;
    },
  };
}

export interface PromqlCollectorOptions {
  /**
   * The Prometheus server (or any server of its HTTP API: Thanos, Mimir, VictoriaMetrics), e.g.
   * `"http://prometheus:9090"` or `"https://mimir.example/prometheus"`; `/api/v1/query` is appended
   * unless the URL already ends with it.
   */
  readonly url: string | URL;
  /**
   * Readings by name, each a PromQL expression that returns an instant vector (its values are summed) or
   * a scalar: `{ rps: 'sum(rate(http_requests_total{job="api"}[1m]))' }`.
   */
  readonly queries: Readonly<Record<string, string>>;
  /** A query that returns no samples reads as this number, or `"error"` fails the collect. Default 0. */
  readonly absent?: Absent;
  /** Extra request headers, e.g. `{ authorization: 'Bearer ...' }` or `{ 'x-scope-orgid': 'team-a' }`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Names the collector in decision records. Default `"promql"`. */
  readonly name?: string;
}

/**
 * Runs PromQL instant queries against the Prometheus HTTP API (`/api/v1/query`), one reading per query,
 * concurrently, each request taking the collect's abort signal. A vector's values are summed; NaN and
 * infinite values (a ratio over no traffic) are left out, so a query returning only those reads as
 * `absent`. A failed query fails the collect with an error that names it and quotes the server's answer.
 *
 * ```ts
 * promqlCollector({
 *   url: 'http://prometheus:9090',
 *   queries: {
 *     rps: 'sum(rate(http_requests_total{job="api"}[1m]))',
 *     p99: 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))',
 *   },
 * });
 * ```
 */
export function promqlCollector(options: PromqlCollectorOptions): AsyncCollector {
  objectOption('options', options);
  const base = urlOption('url', options.url);
  const endpoint = base.pathname.endsWith('/api/v1/query')
    ? base
    : new URL(`${base.pathname.replace(/\/+$/, '')}/api/v1/query${base.search}`, base);
  const name = collectorName(options.name, 'promql');
  const absent = absentOption(options.absent);
  const headers = headersOption(options.headers);
  objectOption('queries', options.queries, 'an object of PromQL expressions by reading name');
  const queries = Object.entries(options.queries);
  if (queries.length === 0) throw new ConfigError('queries', options.queries, 'at least one query');
  for (const [reading, query] of queries) {
    if (typeof query !== 'string' || query.trim() === '') {
      throw new ConfigError(`queries.${reading}`, query, 'a PromQL expression');
    }
  }

  const run = async (reading: string, query: string, signal: AbortSignal): Promise<number | undefined> => {
    const what = `query ${JSON.stringify(query)} (reading "${reading}")`;
    const body = await request(
      name,
      what,
      endpoint,
      {
        method: 'POST',
        headers: { accept: 'application/json', ...headers },
        body: new URLSearchParams({ query }),
      },
      signal,
      true,
    );
    let answer: QueryAnswer;
    try {
      answer = JSON.parse(body) as QueryAnswer;
    } catch {
      throw new CollectorError(name, `${what}: the answer is not JSON: ${excerpt(body)}`);
    }
    if (answer?.status !== 'success') {
      const kind = answer?.errorType ? `${answer.errorType}: ` : '';
      throw new CollectorError(name, `${what} failed: ${kind}${answer?.error ?? excerpt(body)}`);
    }
    const data = answer.data;
    let values: number[];
    if (data?.resultType === 'vector' && Array.isArray(data.result)) {
      values = (data.result as VectorSample[]).map((s) => Number(s?.value?.[1]));
    } else if (data?.resultType === 'scalar' && Array.isArray(data.result)) {
      values = [Number((data.result as [number, string])[1])];
    } else if (data?.resultType === 'matrix') {
      throw new CollectorError(
        name,
        `${what} returned a range vector; give an instant vector (no [range] at the end)`,
      );
    } else {
      throw new CollectorError(
        name,
        `${what} returned a ${String(data?.resultType)}, not a vector or a scalar`,
      );
    }
    let sum = 0;
    let any = false;
    for (const v of values) {
      if (!Number.isFinite(v)) continue;
      sum += v;
      any = true;
    }
    if (any) return sum;
    if (absent === 'error') throw new CollectorError(name, `${what} returned no samples`);
    return absent;
  };

  return {
    name,
    async collect(signal: AbortSignal): Promise<Readings> {
      signal.throwIfAborted();
      const settled = await Promise.allSettled(
        queries.map(([reading, query]) => run(reading, query, signal)),
      );
      if (signal.aborted) throw signal.reason;
      const readings: Record<string, number> = {};
      const errors: unknown[] = [];
      settled.forEach((result, i) => {
        if (result.status === 'rejected') errors.push(result.reason);
        else if (result.value !== undefined) readings[queries[i]![0]] = result.value;
      });
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) {
        const prefix = `sluice: collector "${name}": `;
        const each = errors.map((e) => messageOf(e).replace(prefix, ''));
        throw new CollectorError(name, `${errors.length} queries failed: ${each.join('; ')}`, {
          cause: new AggregateError(errors),
        });
      }
      return readings;
    },
  };
}

interface QueryAnswer {
  readonly status?: string;
  readonly errorType?: string;
  readonly error?: string;
  readonly data?: { readonly resultType?: string; readonly result?: unknown };
}

interface VectorSample {
  readonly value?: readonly [number, string];
}

/** Sends the request and returns the body of a 2xx answer; anything else is a `CollectorError`. */
async function request(
  collector: string,
  what: string,
  url: URL,
  init: RequestInit,
  signal: AbortSignal,
  errorsInBody = false,
): Promise<string> {
  let response: Response;
  let body: string;
  try {
    response = await fetch(url, { ...init, signal });
    body = await response.text();
  } catch (error) {
    return failure(collector, what, error, signal);
  }
  // The Prometheus API answers errors (400, 422, 503) with a JSON body that says more than the status.
  if (response.ok || (errorsInBody && body.trimStart().startsWith('{'))) return body;
  throw new CollectorError(
    collector,
    `${what}: ${url.host} answered ${response.status} ${response.statusText}${body ? `: ${excerpt(body)}` : ''}`,
  );
}

function combine(values: readonly number[], aggregate: Aggregate): number | undefined {
  let n = 0;
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  let min = Number.POSITIVE_INFINITY;
  for (const v of values) {
    // NaN and infinite samples (a stale marker, an empty ratio) carry no usable figure.
    if (!Number.isFinite(v)) continue;
    n++;
    sum += v;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  if (n === 0) return undefined;
  switch (aggregate) {
    case 'sum':
    case 'single':
      return sum;
    case 'avg':
      return sum / n;
    case 'max':
      return max;
    case 'min':
      return min;
  }
}

function describeSeries(s: Sample): string {
  const labels = Object.entries(s.labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
  return `${s.name}{${labels}}`;
}

function urlOption(option: string, value: unknown): URL {
  if (value instanceof URL) return new URL(value.href);
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      if (url.protocol === 'http:' || url.protocol === 'https:') return url;
    } catch {
      // reported below
    }
  }
  throw new ConfigError(option, value, 'an http or https URL');
}

function absentOption(value: unknown): Absent {
  if (value === undefined) return 0;
  if (value === 'error') return value;
  return finite('absent', value);
}

function headersOption(value: unknown): Readonly<Record<string, string>> {
  if (value === undefined) return {};
  objectOption('headers', value, 'an object of header values by name');
  for (const [key, v] of Object.entries(value as object)) {
    if (typeof v !== 'string') throw new ConfigError(`headers.${key}`, v, 'a string');
  }
  return value as Readonly<Record<string, string>>;
}

function picksOption(metrics: unknown): Pick[] {
  objectOption('metrics', metrics, 'an object of series selectors by reading name');
  const picks: Pick[] = [];
  for (const [reading, value] of Object.entries(metrics as object)) {
    const option = `metrics.${reading}`;
    const selection: MetricSelection =
      typeof value === 'string'
        ? { series: value }
        : ((value as MetricSelection | null) ?? ({} as MetricSelection));
    if (typeof value !== 'string')
      objectOption(option, value, 'a series selector or { series, aggregate?, rate? }');
    if (typeof selection.series !== 'string') {
      throw new ConfigError(`${option}.series`, selection.series, 'a series selector');
    }
    let selector: Selector;
    try {
      selector = parseSelector(selection.series);
    } catch (error) {
      throw new ConfigError(option, selection.series, `a series selector (${messageOf(error)})`);
    }
    const aggregate = oneOf(`${option}.aggregate`, selection.aggregate ?? 'sum', AGGREGATES);
    const rate = selection.rate ?? 'auto';
    if (rate !== 'auto' && typeof rate !== 'boolean') {
      throw new ConfigError(`${option}.rate`, rate, 'true, false or "auto"');
    }
    picks.push({ reading, text: selection.series, selector, aggregate, rate });
  }
  if (picks.length === 0)
    throw new ConfigError('metrics', metrics, 'at least one reading (or no metrics option)');
  return picks;
}
