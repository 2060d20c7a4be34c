import { ConfigError } from '../core/errors.ts';
import type { Response } from './request.ts';

/**
 * Recorded traffic to replay: one record per request. Traces are parsed from CSV or JSON lines; the
 * parser names the line and field of the first bad value.
 */
export interface TraceRecord {
  /** Arrival time (ms from the start of the trace). */
  readonly at: number;
  /** Service demand (ms): replaces the downstream's service-time draw for this request. */
  readonly duration?: number;
  /** Criticality name or level index. */
  readonly priority?: string | number;
  /** Cost in permits. */
  readonly weight?: number;
  /** Fairness key (tenant). */
  readonly key?: string;
  /** The outcome recorded: the downstream will give it. */
  readonly outcome?: Response;
}

export type TraceFormat = 'csv' | 'jsonl';

export interface ParseTraceOptions {
  /** Name for error messages (a file name). Default `"trace"`. */
  readonly source?: string;
  /** Shift times so that the first record arrives at 0. Default true. */
  readonly rebase?: boolean;
}

const TIME = ['at', 'time', 't', 'timestamp'];
const FIELDS = ['duration', 'priority', 'weight', 'key', 'outcome'];
/** Column order of a CSV trace without a header line. */
const POSITIONAL = ['at', 'duration', 'priority', 'outcome'];

/**
 * Parses a trace. Times are numbers (milliseconds) or ISO-8601 dates; records are sorted by time (stably)
 * and, unless `rebase` is false, shifted so that the first arrives at 0. Blank lines and lines starting with
 * `#` are skipped.
 *
 * CSV: an optional header names the columns (`at` or `time`/`t`/`timestamp`, `duration`, `priority`,
 * `weight`, `key`, `outcome`; others are ignored); without one the columns are
 * `at,duration,priority,outcome`. Fields may be double-quoted. JSON lines: one object per line with the same
 * field names.
 *
 * Outcomes: `success` (or `ok`), `error`, `overload`, or an HTTP status: below 400 is a success; 429, 503
 * and 504 are overload; other codes are errors.
 */
export function parseTrace(
  text: string,
  format: TraceFormat,
  options: ParseTraceOptions = {},
): TraceRecord[] {
  if (typeof text !== 'string') throw new ConfigError('trace', text, 'the text of a trace');
  if (format !== 'csv' && format !== 'jsonl')
    throw new ConfigError('format', format, 'one of "csv", "jsonl"');
  const source = options.source ?? 'trace';
  const records: TraceRecord[] = [];
  const lines = text.split(/\r?\n/);
  let columns: readonly string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}:${i + 1}`;
    let fields: Record<string, unknown>;
    if (format === 'jsonl') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new ConfigError(where, line, 'a JSON object');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new ConfigError(where, parsed, 'a JSON object');
      }
      fields = parsed as Record<string, unknown>;
    } else {
      const cells = splitCsv(line, where);
      if (columns === undefined) {
        if (isHeader(cells[0]!)) {
          columns = cells.map((c) => c.trim().toLowerCase());
          if (!columns.some((c) => TIME.includes(c))) {
            throw new ConfigError(`${where} header`, line, `a column named one of ${TIME.join(', ')}`);
          }
          continue;
        }
        columns = POSITIONAL;
      }
      fields = {};
      for (let c = 0; c < cells.length && c < columns.length; c++) {
        const cell = cells[c]!.trim();
        if (cell !== '') fields[columns[c]!] = cell;
      }
    }
    records.push(record(fields, where));
  }
  if (records.length === 0)
    throw new ConfigError(source, text.slice(0, 80), 'a trace with at least one record');
  // Stable sort: equal times keep file order.
  const order = records.map((r, i) => [r, i] as const).sort((a, b) => a[0].at - b[0].at || a[1] - b[1]);
  const origin = options.rebase === false ? 0 : order[0]![0].at;
  return order.map(([r]) => (origin === 0 ? r : { ...r, at: r.at - origin }));
}

function record(fields: Record<string, unknown>, where: string): TraceRecord {
  const timeKey = TIME.find((k) => fields[k] !== undefined);
  if (timeKey === undefined) throw new ConfigError(`${where} at`, undefined, 'an arrival time');
  const out: {
    at: number;
    duration?: number;
    priority?: string | number;
    weight?: number;
    key?: string;
    outcome?: Response;
  } = { at: time(fields[timeKey], `${where} ${timeKey}`) };
  for (const name of FIELDS) {
    const value = fields[name];
    if (value === undefined || value === null) continue;
    const field = `${where} ${name}`;
    switch (name) {
      case 'duration':
        out.duration = num(value, field, 0, false);
        break;
      case 'weight':
        out.weight = num(value, field, 0, true);
        break;
      case 'priority': {
        const n = typeof value === 'number' ? value : /^\d+$/.test(String(value)) ? Number(value) : undefined;
        if (n !== undefined) {
          if (!Number.isInteger(n) || n < 0)
            throw new ConfigError(field, value, 'a level index >= 0 or a name');
          out.priority = n;
        } else if (typeof value === 'string' && value !== '') out.priority = value;
        else throw new ConfigError(field, value, 'a level index >= 0 or a name');
        break;
      }
      case 'key':
        if (typeof value !== 'string' && typeof value !== 'number')
          throw new ConfigError(field, value, 'a string');
        out.key = String(value);
        break;
      case 'outcome':
        out.outcome = outcome(value, field);
        break;
    }
  }
  return out;
}

function time(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const n = Number(value);
    if (value.trim() !== '' && Number.isFinite(n)) return n;
    const d = Date.parse(value);
    if (Number.isFinite(d) && /^\d{4}-\d{2}-\d{2}/.test(value)) return d;
  }
  throw new ConfigError(field, value, 'a time in milliseconds or an ISO-8601 date');
}

function num(value: unknown, field: string, min: number, exclusive: boolean): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || (exclusive && n === min)) {
    throw new ConfigError(field, value, `a finite number ${exclusive ? '>' : '>='} ${min}`);
  }
  return n;
}

function outcome(value: unknown, field: string): Response {
  const v = typeof value === 'string' ? value.trim().toLowerCase() : value;
  if (v === 'success' || v === 'ok') return 'success';
  if (v === 'error' || v === 'overload') return v;
  const code =
    typeof v === 'number' ? v : typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : Number.NaN;
  if (Number.isInteger(code) && code >= 100 && code <= 599) {
    if (code < 400) return 'success';
    return code === 429 || code === 503 || code === 504 ? 'overload' : 'error';
  }
  throw new ConfigError(field, value, 'one of "success", "ok", "error", "overload" or an HTTP status');
}

function isHeader(first: string): boolean {
  const f = first.trim();
  if (f === '' || Number.isFinite(Number(f))) return false;
  return !(/^\d{4}-\d{2}-\d{2}/.test(f) && Number.isFinite(Date.parse(f)));
}

/** Splits one CSV line; fields may be quoted, with `""` for a quote inside. */
function splitCsv(line: string, where: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new ConfigError(where, line, 'balanced double quotes');
        cell += line.slice(i, q);
        if (line[q + 1] === '"') {
          cell += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      cells.push(cell);
      if (i < line.length && line[i] !== ',')
        throw new ConfigError(where, line, 'a comma after a quoted field');
    } else {
      const c = line.indexOf(',', i);
      cells.push(c < 0 ? line.slice(i) : line.slice(i, c));
      i = c < 0 ? line.length : c;
    }
    if (i >= line.length) break;
    i++; // past the comma
    if (i === line.length) {
      cells.push('');
      break;
    }
  }
  return cells;
}
