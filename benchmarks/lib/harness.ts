/**
 * A small benchmark harness: warm-up, then interleaved rounds, reported as medians. Interleaving (every
 * candidate once per round, starting from a different one each round) spreads the noise of a shared
 * machine over all candidates instead of letting it land on whichever ran during a busy spell; ratios
 * are taken between candidates measured in the same run.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, release } from 'node:os';

/** Performs `ops` operations of one candidate. */
export type Task = (ops: number) => Promise<unknown>;

export interface Stats {
  /** Median cost of one operation over the rounds, in nanoseconds. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Interquartile range over the median: the round-to-round spread. */
  readonly spread: number;
  readonly rounds: number;
}

export interface CompareOptions {
  /** Operations per sample. */
  readonly ops: number;
  /** Unmeasured rounds first, so every candidate runs optimised code. */
  readonly warmup: number;
  /** Measured rounds. */
  readonly rounds: number;
}

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;
const gc: Gc | undefined = (globalThis as { gc?: Gc }).gc;

/**
 * Collects all garbage (two full collections) if the process was started with `--expose-gc`; returns
 * whether it could. For heap measurements only: a forced full collection is a memory-reducing one, and it
 * throws away optimised code, so a timing sample taken right after it measures re-optimisation.
 */
export function collect(): boolean {
  if (gc === undefined) return false;
  gc();
  gc();
  return true;
}

/** Clears the young generation (a scavenge), which leaves optimised code alone. For timing samples. */
export function scavenge(): void {
  gc?.({ type: 'minor', execution: 'sync' });
}

export function hasGc(): boolean {
  return gc !== undefined;
}

/** Measures each task per operation; returns stats by task name, in the tasks' order. */
export async function compare(
  tasks: Readonly<Record<string, Task>>,
  options: CompareOptions,
): Promise<Map<string, Stats>> {
  const names = Object.keys(tasks);
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const task = tasks[name]!;
      // Each sample starts from a scavenged young generation, so no candidate pays for another's garbage.
      scavenge();
      const start = process.hrtime.bigint();
      await task(options.ops);
      const ns = Number(process.hrtime.bigint() - start) / options.ops;
      if (round >= options.warmup) samples.get(name)!.push(ns);
    }
  }
  return new Map(names.map((n) => [n, summarise(samples.get(n)!)]));
}

export function summarise(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  return {
    median,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    spread: median > 0 ? (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / median : 0,
    rounds: sorted.length,
  };
}

/** The `q` quantile of ascending `sorted`, interpolated between its neighbours; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * The `q` quantile of ascending `sorted` as one of its own values, the one at rank `floor(q * (n - 1))` (a
 * latency some request had, as the tests' nearest-rank percentiles are); NaN when empty.
 */
export function rankQuantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** Prints rows as an aligned text table (numbers right-aligned). */
export function table(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

export function fixed(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

export function percent(n: number): string {
  return Number.isFinite(n) ? `${Math.round(n * 100)}%` : String(n);
}

/** Where and on what a result was measured, for the results files. */
export function environment(): Record<string, unknown> {
  const cpu = cpus()[0];
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${platform()} ${release()}`,
    cpu: cpu?.model ?? 'unknown',
    parallelism: availableParallelism(),
    gcExposed: hasGc(),
  };
}

export function writeJson(url: URL, value: unknown): void {
  writeFileSync(url, `${JSON.stringify(value, null, 2)}\n`);
}
