import type { SimResult } from '../run.ts';
import type { PolicyRun } from '../scenarios/compare.ts';
import { compact, duration, ms, NONE, percent } from './format.ts';
import type { SimReport } from './report.ts';
import { summaryRows } from './rows.ts';
import { gauge, maxOf, perSecond } from './series.ts';
import { sparkline } from './sparkline.ts';

export interface TableOptions {
  /** Columns to fit in. Default 100. */
  readonly width?: number;
  /** Draw the over-time sparklines. Default true. */
  readonly sparklines?: boolean;
}

const LABEL = 26;
const MIN_COLUMN = 13;
const MAX_COLUMN = 20;

/**
 * The terminal summary: a header naming the scenario, a table with one column per policy (several tables
 * when too many policies for the width) and, below, sparklines of goodput, p99 latency, limit, queue and
 * the service's backlog over time, one line per policy on a shared scale. Plain text, no colour codes.
 */
export function renderTable(report: SimReport, options: TableOptions = {}): string {
  const width = Math.max(60, Math.floor(options.width ?? 100));
  const runs = report.runs;
  const out: string[] = [...header(report, width)];
  const perBlock = Math.max(1, Math.floor((width - LABEL) / MIN_COLUMN));
  for (let from = 0; from < runs.length; from += perBlock) {
    const block = runs.slice(from, from + perBlock);
    const column = Math.min(MAX_COLUMN, Math.floor((width - LABEL) / block.length));
    out.push('');
    out.push(pad('', LABEL) + block.map((r) => padStart(clip(r.name, column - 1), column)).join(''));
    for (const row of summaryRows(runs)) {
      const label =
        row.unit === undefined ? row.label : pad(row.label, LABEL - row.unit.length - 2) + row.unit;
      out.push(pad(label, LABEL) + block.map((r) => padStart(row.cell(r.result), column)).join(''));
    }
  }
  if (options.sparklines !== false && runs.length > 0) out.push('', ...overTime(runs, width));
  return `${out.map((line) => line.trimEnd()).join('\n')}\n`;
}

function header(report: SimReport, width: number): string[] {
  const first = report.runs[0]?.result.settings;
  const lines = [report.title];
  if (report.description) lines.push(...wrap(report.description, width));
  if (first !== undefined) {
    const parts = [`seed ${first.seed}`, `${duration(first.duration)} simulated`];
    if (first.warmup > 0) parts.push(`summary after a ${duration(first.warmup)} warmup`);
    if (first.slo !== null)
      parts.push(`SLO ${percent(first.slo.target).replace('.0%', '%')} within ${ms(first.slo.latency)} ms`);
    lines.push(parts.join(' · '));
  }
  return lines;
}

interface Trend {
  readonly title: string;
  readonly values: (r: SimResult) => readonly (number | null)[] | undefined;
}

const trends: readonly Trend[] = [
  { title: 'goodput /s', values: (r) => perSecond(r, r.series.success) },
  { title: 'latency p99 ms', values: (r) => r.series.latency.p99 },
  { title: 'limit', values: (r) => gauge(r, 'limit') },
  { title: 'queue', values: (r) => gauge(r, 'queued') },
  { title: 'service backlog', values: (r) => gauge(r, 'backlog') },
];

/** Sparklines, one block per measure, one line per policy, each measure on one scale for all policies. */
function overTime(runs: readonly PolicyRun[], width: number): string[] {
  const name = Math.min(16, Math.max(...runs.map((r) => r.name.length)));
  const indent = 2 + name + 2;
  const spark = Math.max(10, width - indent - 1);
  const end = runs[0]!.result.settings.duration;
  const buckets = Math.min(spark, runs[0]!.result.series.time.length);
  const axisEnd = duration(end);
  const out = [
    `Over time${' '.repeat(Math.max(1, indent - 9))}0${' '.repeat(Math.max(1, buckets - 1 - axisEnd.length))}${axisEnd}`,
  ];
  for (const trend of trends) {
    const series = runs.map((r) => trend.values(r.result));
    if (series.every((s) => s === undefined || s.every((v) => v === null))) continue;
    const max = maxOf(...series);
    out.push(`${trend.title} (max ${compact(max)})`);
    runs.forEach((r, i) => {
      const s = series[i];
      const line = s === undefined ? NONE : sparkline(s, { width: spark, min: 0, max });
      out.push(`  ${pad(clip(r.name, name), name)}  ${line}`);
    });
  }
  return out;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

function padStart(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - [...text].length)) + text;
}

function clip(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(1, width - 1)).join('')}…`;
}

function wrap(text: string, width: number): string[] {
  // A number stays with the word after it ("5 s", "20 replicas").
  const words: string[] = [];
  for (const word of text.split(/\s+/)) {
    const last = words.at(-1);
    if (last !== undefined && /^[\d.,]+$/.test(last)) words[words.length - 1] = `${last} ${word}`;
    else words.push(word);
  }
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
