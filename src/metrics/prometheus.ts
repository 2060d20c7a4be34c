import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { ConfigError } from '../core/errors.ts';
import type { Backend, BackendHistogram, Labels } from './core.ts';
import { type MetricDefinition, prometheusName } from './definitions.ts';
import { PeerDependencyError } from './errors.ts';
import { type MetricsHandler, metricsHandler } from './handler.ts';
import { type SluiceMetrics, Tracker } from './tracker.ts';

/** A prom-client `Registry`, as far as sluice uses it. */
export interface PrometheusRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
}

export interface PrometheusMetricsOptions {
  /** Prefix of every metric name, e.g. `sluice_limiter_limit`. Default `"sluice_"`. */
  readonly prefix?: string;
  /**
   * The prom-client registry the metrics are registered in. Default prom-client's global `register`, so
   * they are served beside the application's own. One `createMetrics` per registry and prefix.
   */
  readonly registry?: PrometheusRegistry;
}

/** The Prometheus exporter: the tracking API plus what serves the exposition. */
export interface PrometheusMetrics extends SluiceMetrics {
  readonly registry: PrometheusRegistry;
  /** Media type of the exposition (`text/plain; version=0.0.4; charset=utf-8` unless the registry says otherwise). */
  readonly contentType: string;
  /** The exposition text of the whole registry: sluice's metrics and any others registered in it. */
  metrics(): Promise<string>;
  /** Serves the exposition for `node:http` and Express; see `metricsHandler`. */
  readonly handler: MetricsHandler;
}

const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/**
 * Prometheus metrics through prom-client (an optional peer dependency, >= 15). Gauges read the tracked
 * components' snapshots when the registry is scraped; counters and histograms are fed by their events.
 *
 * ```ts
 * const metrics = createMetrics();
 * metrics.trackLimiter(limiter);
 * http.createServer(metrics.handler).listen(9464);
 * ```
 */
export function createMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const prefix = options.prefix ?? 'sluice_';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix))
    throw new ConfigError('prefix', prefix, 'a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*, or empty)');
  const given = options.registry;
  if (
    given !== undefined &&
    (typeof given !== 'object' || given === null || typeof given.metrics !== 'function')
  ) {
    throw new ConfigError('registry', given, 'a prom-client Registry');
  }
  const client = loadClient();
  const registry = (given ?? client.register) as PrometheusRegistry;
  return new PrometheusExporter(new PrometheusBackend(client, registry, prefix), registry);
}

class PrometheusExporter extends Tracker implements PrometheusMetrics {
  readonly registry: PrometheusRegistry;
  readonly handler: MetricsHandler;

  constructor(backend: PrometheusBackend, registry: PrometheusRegistry) {
    super(backend);
    this.registry = registry;
    this.handler = metricsHandler(registry);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

function loadClient(): typeof PromClient {
  try {
    return createRequire(import.meta.url)('prom-client') as typeof PromClient;
  } catch (error) {
    throw new PeerDependencyError('prom-client', 'createMetrics()', error);
  }
}

class PrometheusBackend implements Backend {
  readonly #client: typeof PromClient;
  readonly #registry: PrometheusRegistry;
  readonly #prefix: string;
  readonly #names: string[] = [];

  constructor(client: typeof PromClient, registry: PrometheusRegistry, prefix: string) {
    this.#client = client;
    this.#registry = registry;
    this.#prefix = prefix;
  }

  observable(
    definition: MetricDefinition,
    labelNames: readonly string[],
    read: (emit: (value: number, labels: Labels) => void) => void,
  ): void {
    const config = this.#config(definition, labelNames);
    // Each collection starts from nothing, so the series of a stopped instance disappear.
    if (definition.type === 'gauge') {
      const gauge: PromClient.Gauge = new this.#client.Gauge({
        ...config,
        collect() {
          gauge.reset();
          read((value, labels) => gauge.set(labels, value));
        },
      });
    } else {
      const counter: PromClient.Counter = new this.#client.Counter({
        ...config,
        collect() {
          counter.reset();
          read((value, labels) => counter.inc(labels, value));
        },
      });
    }
  }

  histogram(definition: MetricDefinition, labelNames: readonly string[]): BackendHistogram {
    const histogram = new this.#client.Histogram({
      ...this.#config(definition, labelNames),
      buckets: [...(definition.buckets ?? [])],
    });
    return {
      observe: (value, labels) => histogram.observe(labels, value),
      remove: (labels) => histogram.remove(labels),
    };
  }

  close(): void {
    for (const name of this.#names.splice(0)) this.#registry.removeSingleMetric(name);
  }

  #config(definition: MetricDefinition, labelNames: readonly string[]) {
    const name = prometheusName(definition, this.#prefix);
    if (this.#registry.getSingleMetric(name) !== undefined) {
      throw new ConfigError(
        'registry',
        name,
        `a registry without ${name} (one createMetrics() per registry and prefix; close() the other first)`,
      );
    }
    this.#names.push(name);
    return {
      name,
      help: definition.help,
      labelNames: [...labelNames],
      registers: [this.#registry as unknown as PromClient.Registry],
    };
  }
}
