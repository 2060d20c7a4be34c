import { ConfigError } from '../core/errors.ts';
import type { Backend, BackendHistogram, Labels } from './core.ts';
import { type MetricDefinition, otelName } from './definitions.ts';
import { type SluiceMetrics, Tracker } from './tracker.ts';

/** Options of an instrument, as `@opentelemetry/api` takes them. */
export interface OtelInstrumentOptions {
  readonly description?: string;
  readonly unit?: string;
  readonly advice?: { explicitBucketBoundaries?: number[] };
}

export interface OtelObservableResult {
  observe(value: number, attributes?: Labels): void;
}

export type OtelObservableCallback = (result: OtelObservableResult) => void;

export interface OtelObservable {
  addCallback(callback: OtelObservableCallback): void;
  removeCallback(callback: OtelObservableCallback): void;
}

export interface OtelHistogram {
  record(value: number, attributes?: Labels): void;
}

/** An OpenTelemetry `Meter` (from `@opentelemetry/api`, an optional peer dependency), as far as sluice uses it. */
export interface OtelMeter {
  createObservableGauge(name: string, options?: OtelInstrumentOptions): OtelObservable;
  createObservableCounter(name: string, options?: OtelInstrumentOptions): OtelObservable;
  createHistogram(name: string, options?: OtelInstrumentOptions): OtelHistogram;
}

export interface OtelMetricsOptions {
  /** The meter the instruments are made on, e.g. `metrics.getMeter('sluice')`. Required. */
  readonly meter: OtelMeter;
  /** Prefix of every instrument name, e.g. `sluice.limiter.limit`. Default `"sluice."`. */
  readonly prefix?: string;
}

const PREFIX = /^([A-Za-z][A-Za-z0-9_.\-/]*)?$/;

/**
 * OpenTelemetry metrics over the same definitions as the Prometheus exporter: observable gauges and
 * counters read at collection time, histograms fed by events, named `sluice.<component>.<name>` with UCUM
 * units. A Prometheus exporter of the OpenTelemetry SDK turns them into the names `createMetrics` uses.
 *
 * ```ts
 * const metrics = otelMetrics({ meter: opentelemetry.metrics.getMeter('sluice') });
 * metrics.trackBreaker(breaker);
 * ```
 */
export function otelMetrics(options: OtelMetricsOptions): SluiceMetrics {
  if (typeof options !== 'object' || options === null)
    throw new ConfigError('options', options, 'an object { meter }');
  const meter = options.meter;
  if (
    typeof meter !== 'object' ||
    meter === null ||
    typeof meter.createObservableGauge !== 'function' ||
    typeof meter.createHistogram !== 'function'
  ) {
    throw new ConfigError('meter', meter, 'an OpenTelemetry Meter (metrics.getMeter(name))');
  }
  const prefix = options.prefix ?? 'sluice.';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix))
    throw new ConfigError('prefix', prefix, 'an instrument name prefix ([A-Za-z][A-Za-z0-9_.-/]*, or empty)');
  return new Tracker(new OtelBackend(meter, prefix));
}

class OtelBackend implements Backend {
  readonly #meter: OtelMeter;
  readonly #prefix: string;
  readonly #registered: [OtelObservable, OtelObservableCallback][] = [];

  constructor(meter: OtelMeter, prefix: string) {
    this.#meter = meter;
    this.#prefix = prefix;
  }

  observable(
    definition: MetricDefinition,
    _labelNames: readonly string[],
    read: (emit: (value: number, labels: Labels) => void) => void,
  ): void {
    const name = otelName(definition, this.#prefix);
    const options = { description: definition.help, unit: definition.unit };
    const instrument =
      definition.type === 'gauge'
        ? this.#meter.createObservableGauge(name, options)
        : this.#meter.createObservableCounter(name, options);
    const callback: OtelObservableCallback = (result) =>
      read((value, labels) => result.observe(value, labels));
    instrument.addCallback(callback);
    this.#registered.push([instrument, callback]);
  }

  histogram(definition: MetricDefinition, _labelNames: readonly string[]): BackendHistogram {
    const histogram = this.#meter.createHistogram(otelName(definition, this.#prefix), {
      description: definition.help,
      unit: definition.unit,
      advice: { explicitBucketBoundaries: [...(definition.buckets ?? [])] },
    });
    // An OpenTelemetry histogram cannot forget a series: a stopped instance's simply stops growing.
    return { observe: (value, labels) => histogram.record(value, labels), remove: () => {} };
  }

  close(): void {
    for (const [instrument, callback] of this.#registered.splice(0)) instrument.removeCallback(callback);
  }
}
