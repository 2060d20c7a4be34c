import { ConfigError } from '../core/errors.ts';
import type { MetricDefinition } from './definitions.ts';

/** Label (attribute) names to values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** Reports one series: its value and its own labels (those of the definition). */
export type Emit = (value: number, labels?: Labels) => void;

/** Reads the current series of a gauge, or the cumulative totals of a counter, at collection time. */
export type Read = (emit: Emit) => void;

/** A histogram instrument of an exporter. */
export interface BackendHistogram {
  observe(value: number, labels: Labels): void;
  /** Forgets one series (a tracked instance stopped); a no-op where the exporter cannot. */
  remove(labels: Labels): void;
}

/**
 * What an exporter (prom-client, an OpenTelemetry meter) provides: gauges and counters read at collection
 * time through a callback, histograms fed as events happen. Called once per definition, on first use.
 */
export interface Backend {
  observable(
    definition: MetricDefinition,
    labelNames: readonly string[],
    read: (emit: (value: number, labels: Labels) => void) => void,
  ): void;
  histogram(definition: MetricDefinition, labelNames: readonly string[]): BackendHistogram;
  /** Unregisters every instrument made. */
  close(): void;
}

/** Names the tracked instance in the `name` label, with optional extra constant labels. */
export interface TrackOptions {
  /** Value of the `name` label. Default the component's own name. */
  readonly name?: string;
  /**
   * More constant labels for every series of this instance, e.g. `{ service: 'api' }`. All instances of a
   * kind tracked by one metrics object must use the same label names. Default none.
   */
  readonly labels?: Labels;
}

/** Stops tracking one instance: its listeners are removed and its series disappear. Idempotent. */
export interface Tracking extends Disposable {
  stop(): void;
}

/** An event-fed counter of one tracked instance, read at collection time. */
export class Counts {
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, { readonly labels: Labels; value: number }>();

  constructor(labelNames: readonly string[]) {
    this.#labelNames = labelNames;
  }

  /** Adds `by` (default 1) to the series with these labels (every label of the definition, as strings). */
  inc(labels: Labels = {}, by = 1): void {
    let key = '';
    for (const n of this.#labelNames) key += `${labels[n]}\u0000`;
    const series = this.#series.get(key);
    if (series !== undefined) series.value += by;
    else this.#series.set(key, { labels, value: by });
  }

  read(emit: Emit): void {
    for (const s of this.#series.values()) emit(s.value, s.labels);
  }
}

/** An event-fed histogram of one tracked instance. */
export interface Histogram {
  observe(value: number, labels?: Labels): void;
}

interface Family {
  readonly definition: MetricDefinition;
  /** Extra label names of the instances, sorted: fixed by the first instance. */
  readonly extra: readonly string[];
  readonly labelNames: readonly string[];
  /** Readers by instance key (observable families). */
  readonly readers: Map<string, Read>;
  /** Instances feeding it (histogram families). */
  readonly instances: Set<string>;
  readonly histogram: BackendHistogram | undefined;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The families made so far and the instances feeding them. A family is made on first use, so an exporter
 * shows only the kinds of component actually tracked.
 */
export class MetricSet {
  readonly #backend: Backend;
  readonly #families = new Map<MetricDefinition, Family>();
  readonly #scopes = new Set<Scope>();
  #collection = 0;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** Counts the collections started with `startCollection()`. */
  get collection(): number {
    return this.#collection;
  }

  /**
   * Starts a collection: snapshots memoised for an earlier one are read afresh. Needed by a backend that
   * collects several times within one synchronous stretch (a sampler on a virtual clock); a scrape is
   * asynchronous, and the memo expires by itself between two.
   */
  startCollection(): void {
    this.#collection++;
  }

  /**
   * Tracks one instance: `attach` registers its series on the scope. A failure (a duplicate name, labels
   * that do not match) undoes what `attach` registered before it threw.
   */
  track(defaultName: string, options: TrackOptions | undefined, attach: (scope: Scope) => void): Tracking {
    if (options !== undefined && (typeof options !== 'object' || options === null))
      throw new ConfigError('options', options, 'an object { name?, labels? }');
    const name = options?.name ?? defaultName;
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', name, 'a non-empty string');
    const extra = checkLabels(options?.labels);
    const scope = new Scope(this, { name, ...extra }, Object.keys(extra).sort());
    this.#scopes.add(scope);
    try {
      attach(scope);
    } catch (error) {
      scope.stop();
      throw error;
    }
    return scope;
  }

  /** Stops every tracked instance and unregisters every instrument. */
  close(): void {
    for (const scope of [...this.#scopes]) scope.stop();
    this.#families.clear();
    this.#backend.close();
  }

  /** @internal */
  forget(scope: Scope): void {
    this.#scopes.delete(scope);
  }

  /** @internal the family of `definition`, made on first use. */
  family(definition: MetricDefinition, extra: readonly string[]): Family {
    let family = this.#families.get(definition);
    if (family === undefined) {
      for (const label of extra) {
        if (label === 'name' || definition.labels.includes(label)) {
          throw new ConfigError(
            `labels.${label}`,
            label,
            `a label name other than name${definition.labels.map((l) => `, ${l}`).join('')} (used by ${definition.component} metrics)`,
          );
        }
      }
      const labelNames = ['name', ...extra, ...definition.labels];
      const readers = new Map<string, Read>();
      const histogram =
        definition.type === 'histogram' ? this.#backend.histogram(definition, labelNames) : undefined;
      if (histogram === undefined) {
        this.#backend.observable(definition, labelNames, (emit) => {
          for (const read of readers.values()) read(emit as Emit);
        });
      }
      family = { definition, extra, labelNames, readers, instances: new Set(), histogram };
      this.#families.set(definition, family);
    } else if (family.extra.join() !== extra.join()) {
      throw new ConfigError(
        'labels',
        Object.fromEntries(extra.map((k) => [k, '…'])),
        `the label names of the ${definition.component}s tracked before (${family.extra.join(', ') || 'none'})`,
      );
    }
    return family;
  }
}

function checkLabels(labels: unknown): Labels {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null)
    throw new ConfigError('labels', labels, 'an object of label names to strings');
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_NAME.test(k) || k.startsWith('__'))
      throw new ConfigError(`labels.${k}`, k, 'a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)');
    if (typeof v !== 'string') throw new ConfigError(`labels.${k}`, v, 'a string');
  }
  return labels as Labels;
}

/**
 * What a tracker function registers for one instance: gauges and counters read at collection time, and
 * counters and histograms fed by its events. `stop()` undoes it all.
 */
export class Scope implements Tracking {
  /** The instance's own labels: `name` and any extra. */
  readonly labels: Labels;
  readonly #set: MetricSet;
  readonly #extra: readonly string[];
  readonly #key: string;
  readonly #cleanup: (() => void)[] = [];
  #stopped = false;

  constructor(set: MetricSet, labels: Labels, extra: readonly string[]) {
    this.#set = set;
    this.labels = labels;
    this.#extra = extra;
    this.#key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** A gauge, or a counter of cumulative totals, whose series `read` reports at each collection. */
  observe(definition: MetricDefinition, read: Read): void {
    const family = this.#set.family(definition, this.#extra);
    const own = this.labels;
    this.#claim(family, family.readers.has(this.#key));
    // A NaN reading (a signal not measured yet) is left out rather than exported.
    family.readers.set(this.#key, (emit) =>
      read((value, labels) => {
        if (!Number.isNaN(value)) emit(value, labels ? { ...own, ...labels } : own);
      }),
    );
    this.#cleanup.push(() => family.readers.delete(this.#key));
  }

  /** A counter fed by events; its totals are read at each collection. */
  counter(definition: MetricDefinition): Counts {
    const counts = new Counts(definition.labels);
    this.observe(definition, (emit) => counts.read(emit));
    return counts;
  }

  /** A histogram fed by events. */
  histogram(definition: MetricDefinition): Histogram {
    const family = this.#set.family(definition, this.#extra);
    const backend = family.histogram!;
    this.#claim(family, family.instances.has(this.#key));
    family.instances.add(this.#key);
    const own = this.labels;
    // The series this instance made, to remove on stop; bounded by the definition's label values.
    const series = new Map<string, Labels>();
    this.#cleanup.push(() => {
      family.instances.delete(this.#key);
      for (const labels of series.values()) backend.remove(labels);
    });
    return {
      observe(value: number, labels?: Labels): void {
        let key = '';
        if (labels !== undefined) for (const k in labels) key += `${labels[k]}\u0000`;
        let all = series.get(key);
        if (all === undefined) {
          all = labels === undefined ? own : { ...own, ...labels };
          series.set(key, all);
        }
        backend.observe(value, all);
      },
    };
  }

  /** Registers an unsubscribe function (an event listener's) to call on stop. */
  listen(unsubscribe: () => void): void {
    this.#cleanup.push(unsubscribe);
  }

  /**
   * Caches `read()` for the rest of the current synchronous stretch (or until the next `startCollection()`),
   * so the gauges of one collection all see one snapshot (and take it once).
   */
  memo<T>(read: () => T): () => T {
    const set = this.#set;
    let cached = false;
    let collection = set.collection;
    let value: T | undefined;
    const expire = (): void => {
      cached = false;
      value = undefined;
    };
    return () => {
      if (!cached || collection !== set.collection) {
        value = read();
        cached = true;
        collection = set.collection;
        queueMicrotask(expire);
      }
      return value as T;
    };
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const f of this.#cleanup.splice(0).reverse()) f();
    this.#set.forget(this);
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  #claim(family: Family, taken: boolean): void {
    if (!taken) return;
    throw new ConfigError(
      'name',
      this.labels.name,
      `a name not yet tracked for a ${family.definition.component} (with the same labels); stop the other tracking first`,
    );
  }
}
