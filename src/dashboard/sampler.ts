import type { Backend, BackendHistogram, Labels } from '../metrics/core.ts';
import type { MetricDefinition } from '../metrics/definitions.ts';
import type { ComponentKind } from '../metrics/kinds.ts';
import { Tracker } from '../metrics/tracker.ts';
import { type ChartSpec, type LineSpec, panels } from './panels.ts';
import { History } from './ring.ts';
import type { DashboardSample, GroupState } from './types.ts';

/**
 * The dashboard's metrics backend: the same trackers that feed prom-client and OpenTelemetry register their
 * gauges, counters and histograms here, and the sampler reads them once per sample instead of once per
 * scrape. Nothing of prom-client is involved.
 */
class SampleBackend implements Backend {
  /** Gauges and counters: each read reports every series of every instance of its definition. */
  readonly observables = new Map<MetricDefinition, (emit: (value: number, labels: Labels) => void) => void>();
  readonly histograms = new Map<MetricDefinition, IntervalHistogram>();

  observable(
    definition: MetricDefinition,
    _labelNames: readonly string[],
    read: (emit: (value: number, labels: Labels) => void) => void,
  ): void {
    this.observables.set(definition, read);
  }

  histogram(definition: MetricDefinition): BackendHistogram {
    const h = new IntervalHistogram();
    this.histograms.set(definition, h);
    return h;
  }

  close(): void {
    this.observables.clear();
    this.histograms.clear();
  }
}

interface Reading {
  readonly labels: Labels;
  /** Gauge value, counter total, or (histograms) the sum of the interval's observations. */
  readonly value: number;
  /** Histograms: observations in the interval. */
  readonly count: number;
  /** Histograms: the largest observation in the interval (-Infinity without any). */
  readonly max: number;
}

/** Count, sum and maximum of each series' observations since the last sample. */
class IntervalHistogram implements BackendHistogram {
  // Bounded by the label values of the instances feeding it (outcomes: a handful per instance).
  readonly #series = new Map<string, { labels: Labels; count: number; sum: number; max: number }>();

  observe(value: number, labels: Labels): void {
    const key = keyOf(labels);
    const s = this.#series.get(key);
    if (s === undefined) this.#series.set(key, { labels, count: 1, sum: value, max: value });
    else {
      s.count++;
      s.sum += value;
      if (value > s.max) s.max = value;
    }
  }

  remove(labels: Labels): void {
    this.#series.delete(keyOf(labels));
  }

  /** The interval's observations, by series; starts the next interval. */
  take(): Reading[] {
    const out: Reading[] = [];
    for (const s of this.#series.values()) {
      out.push({ labels: s.labels, value: s.sum, count: s.count, max: s.count > 0 ? s.max : -Infinity });
      s.count = 0;
      s.sum = 0;
      s.max = -Infinity;
    }
    return out;
  }
}

function keyOf(labels: Labels): string {
  let key = '';
  for (const k in labels) key += `${k}=${labels[k]}\u0000`;
  return key;
}

type Readings = ReadonlyMap<MetricDefinition, readonly Reading[]>;

interface LineRuntime {
  readonly id: string;
  readonly label: string;
  /** Rate lines: the counter total at the last sample. */
  previous: number | undefined;
}

interface ChartRuntime {
  readonly id: string;
  readonly spec: ChartSpec;
  /** By `<line spec index>\u0000<group>`, in the order they appeared. */
  readonly lines: Map<string, LineRuntime>;
}

interface Group {
  readonly id: string;
  readonly kind: ComponentKind;
  readonly name: string;
  readonly charts: readonly ChartRuntime[];
  /** Clock time of the last sample (or of tracking): rates are over the time since. */
  lastAt: number;
}

/**
 * Reads every tracked value once per sample into rings: one line per chart line of each tracked component
 * (and, for lines split `by` a label, per value of that label seen).
 */
export class Sampler {
  readonly #backend = new SampleBackend();
  /** Tracks components onto this sampler, as the exporters of `sluice/metrics` do onto theirs. */
  readonly tracker = new Tracker(this.#backend);
  readonly history: History;
  readonly #groups = new Map<string, Group>();
  #nextGroup = 0;
  #nextLine = 0;
  #layoutChanged = false;

  constructor(capacity: number) {
    this.history = new History(capacity);
  }

  /**
   * Starts the lines of a component just tracked (as `name`) at time `now`. Counters' totals so far become
   * the base of their rates, so the first sample does not show everything counted before tracking.
   */
  addGroup(kind: ComponentKind, name: string, now: number): string {
    const id = `g${this.#nextGroup++}`;
    const charts = panels[kind].map((spec) => ({ id: `${id}.${spec.key}`, spec, lines: new Map() }));
    const group: Group = { id, kind, name, charts, lastAt: now };
    // Lines not split by a label show in the legend from the start, before their first value.
    for (const chart of charts) {
      chart.spec.lines.forEach((spec, i) => {
        if (spec.by === undefined) this.#line(chart, i, spec, '');
      });
    }
    this.#groups.set(id, group);
    this.#derive(group, this.#collect(false), 0, true);
    this.#layoutChanged = true;
    return id;
  }

  removeGroup(id: string): void {
    const group = this.#groups.get(id);
    if (group === undefined) return;
    this.#groups.delete(id);
    for (const chart of group.charts) for (const line of chart.lines.values()) this.history.delete(line.id);
    this.#layoutChanged = true;
  }

  /** Takes one sample at time `t`; `layoutChanged` tells whether lines came or went since the last call. */
  sample(t: number): { sample: DashboardSample; layoutChanged: boolean } {
    const readings = this.#collect(true);
    const values = new Map<string, number>();
    for (const group of this.#groups.values()) {
      const dt = (t - group.lastAt) / 1000;
      for (const [id, v] of this.#derive(group, readings, dt, false)) values.set(id, v);
      group.lastAt = t;
    }
    this.history.push(t, values);
    const out: Record<string, number | null> = {};
    for (const [id, v] of values) out[id] = Number.isFinite(v) ? round(v) : null;
    const layoutChanged = this.#layoutChanged;
    this.#layoutChanged = false;
    return { sample: { t, values: out }, layoutChanged };
  }

  groups(): GroupState[] {
    return [...this.#groups.values()].map((g) => ({
      id: g.id,
      kind: g.kind,
      name: g.name,
      charts: g.charts.map(({ id, spec, lines }) => ({
        id,
        title: spec.title,
        format: spec.format,
        step: spec.step === true,
        ...(spec.states === undefined ? {} : { states: spec.states }),
        ...(spec.range === undefined ? {} : { range: spec.range }),
        lines: [...lines.values()].map((line) => ({
          id: line.id,
          label: line.label,
          values: this.history.values(line.id).map((v) => (v === null ? null : round(v))),
        })),
      })),
    }));
  }

  /** Every family's series now; histograms' intervals are taken (and restarted) only when `histograms`. */
  #collect(histograms: boolean): Readings {
    // Two samples may come within one synchronous stretch (on a virtual clock): each reads afresh.
    this.tracker.startCollection();
    const readings = new Map<MetricDefinition, Reading[]>();
    for (const [definition, read] of this.#backend.observables) {
      const list: Reading[] = [];
      read((value, labels) => list.push({ labels, value, count: 0, max: value }));
      readings.set(definition, list);
    }
    if (histograms)
      for (const [definition, h] of this.#backend.histograms) readings.set(definition, h.take());
    return readings;
  }

  /** The group's line values from `readings`; with `baseline`, only records counter totals. */
  #derive(group: Group, readings: Readings, dt: number, baseline: boolean): Map<string, number> {
    const out = new Map<string, number>();
    for (const chart of group.charts) {
      chart.spec.lines.forEach((spec, i) => {
        const own = (readings.get(spec.metric) ?? []).filter(
          (r) => r.labels['name'] === group.name && matches(r.labels, spec.where),
        );
        for (const [key, rs] of split(own, spec.by)) {
          const line = this.#line(chart, i, spec, key);
          if (spec.stat === 'rate') {
            const total = sum(rs);
            const previous = line.previous ?? (baseline ? total : 0);
            line.previous = total;
            // A total that went down means series went away: no rate for that interval.
            if (!baseline && dt > 0 && total >= previous) out.set(line.id, (total - previous) / dt);
          } else if (!baseline) {
            out.set(line.id, value(spec, chart.spec, rs));
          }
        }
      });
    }
    return out;
  }

  #line(chart: ChartRuntime, index: number, spec: LineSpec, group: string): LineRuntime {
    const key = `${index}\u0000${group}`;
    let line = chart.lines.get(key);
    if (line === undefined) {
      line = {
        id: `l${this.#nextLine++}`,
        label: spec.by === undefined ? spec.label : spec.label + group,
        previous: undefined,
      };
      chart.lines.set(key, line);
      this.history.add(line.id);
      this.#layoutChanged = true;
    }
    return line;
  }
}

function matches(labels: Labels, where: Labels | undefined): boolean {
  if (where === undefined) return true;
  for (const k in where) if (labels[k] !== where[k]) return false;
  return true;
}

/** Readings by the value of label `by` (all under `''` without one). */
function split(readings: readonly Reading[], by: string | undefined): Map<string, Reading[]> {
  const groups = new Map<string, Reading[]>();
  if (by === undefined) {
    groups.set('', [...readings]);
    return groups;
  }
  for (const r of readings) {
    const key = r.labels[by] ?? '';
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [r]);
    else list.push(r);
  }
  return groups;
}

function sum(readings: readonly Reading[]): number {
  let total = 0;
  for (const r of readings) total += r.value;
  return total;
}

function value(spec: LineSpec, chart: ChartSpec, readings: readonly Reading[]): number {
  switch (spec.stat) {
    case 'value':
      return readings.length === 0 ? Number.NaN : sum(readings);
    case 'mean': {
      let count = 0;
      for (const r of readings) count += r.count;
      return count === 0 ? (spec.idle ?? Number.NaN) : sum(readings) / count;
    }
    case 'max': {
      let max = -Infinity;
      for (const r of readings) if (r.count > 0 && r.max > max) max = r.max;
      return max === -Infinity ? (spec.idle ?? Number.NaN) : max;
    }
    case 'state': {
      // A state set: the series at 1 names the current state.
      const label = spec.metric.labels[0];
      const on = readings.find((r) => r.value === 1);
      const index =
        on === undefined || label === undefined ? -1 : (chart.states ?? []).indexOf(on.labels[label] ?? '');
      return index < 0 ? Number.NaN : index;
    }
    case 'rate':
      return Number.NaN; // derived from totals by the caller
  }
}

/** Six significant digits: more than a chart shows, and a third of the bytes of a full double. */
function round(v: number): number {
  return Number(v.toPrecision(6));
}
