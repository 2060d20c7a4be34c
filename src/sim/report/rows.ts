import { criticality } from '../../limiter/types.ts';
import type { SimResult } from '../run.ts';
import type { PolicyRun } from '../scenarios/compare.ts';
import { amount, compact, count, ms, NONE, percent } from './format.ts';

/** One row of the summary table: a measure, and how to show it for one run. */
export interface SummaryRow {
  /** Label; a breakdown of the row above starts with two spaces. */
  readonly label: string;
  /** Unit shown after the label (`/s`, `ms`), if any. */
  readonly unit?: string;
  readonly cell: (result: SimResult) => string;
}

/**
 * The rows of the summary table, shared by the terminal and HTML reports: throughput, SLO, latency,
 * what was shed (by reason, and by priority when there are several), failures, and the limit and queues.
 * Rows that no run needs (retries when nobody retried, the SLO when there is none) are left out.
 */
export function summaryRows(runs: readonly PolicyRun[]): SummaryRow[] {
  const summaries = runs.map((r) => r.result.summary);
  const reasons = [...new Set(summaries.flatMap((s) => Object.keys(s.shedByReason)))].sort();
  const priorities = [...new Set(summaries.flatMap((s) => Object.keys(s.shedByPriority)))].sort(
    (a, b) => rank(a) - rank(b) || a.localeCompare(b),
  );
  const byPriority = priorities.length > 1 || (priorities.length === 1 && priorities[0] !== 'default');
  const hasSlo = summaries.some((s) => s.slo !== null);
  const hasRetries = summaries.some((s) => s.retries > 0);
  const list: SummaryRow[] = [
    { label: 'Offered', unit: '/s', cell: (r) => amount(r.summary.offeredRate) },
    { label: 'Goodput', unit: '/s', cell: (r) => amount(r.summary.goodput) },
  ];
  if (hasSlo) {
    list.push(
      { label: 'Goodput within SLO', unit: '/s', cell: (r) => amount(r.summary.goodputWithinSlo) },
      {
        label: 'SLO attained',
        cell: (r) => {
          const slo = r.summary.slo;
          if (slo === null || slo.attainment === null) return NONE;
          return `${percent(slo.attainment)} ${slo.met ? '✓' : '✗'}`;
        },
      },
    );
  }
  list.push(
    { label: 'Latency p50', unit: 'ms', cell: (r) => ms(r.summary.latency.p50) },
    { label: 'Latency p99', unit: 'ms', cell: (r) => ms(r.summary.latency.p99) },
    { label: 'Latency max', unit: 'ms', cell: (r) => ms(r.summary.latency.max) },
    { label: 'Shed', cell: (r) => withShare(r.summary.shed, r.summary.offered) },
  );
  for (const reason of reasons) {
    list.push({ label: `  ${reason}`, cell: (r) => count(r.summary.shedByReason[reason] ?? 0) });
  }
  if (byPriority) {
    for (const p of priorities) {
      list.push({
        label: `  priority ${p}`,
        cell: (r) => withShare(r.summary.shedByPriority[p] ?? 0, r.summary.byPriority[p]?.offered ?? 0),
      });
    }
  }
  list.push(
    { label: 'Timed out', cell: (r) => count(r.summary.timeouts) },
    { label: 'Failed (error, overload)', cell: (r) => count(r.summary.errors + r.summary.overload) },
    { label: 'Late (wasted work)', cell: (r) => count(r.summary.late) },
  );
  if (hasRetries) list.push({ label: 'Retries', cell: (r) => count(r.summary.retries) });
  list.push(
    { label: 'Limit mean (min–max)', cell: (r) => spread(r, 'limit') },
    { label: 'Queue mean (max)', cell: (r) => peak(r, 'queued') },
    { label: 'Service backlog mean (max)', cell: (r) => peak(r, 'backlog') },
  );
  return list;
}

/** Criticality names first, most important first; then level indexes; then anything else. */
function rank(priority: string): number {
  const k = (criticality as readonly string[]).indexOf(priority);
  if (k >= 0) return k;
  return /^\d+$/.test(priority) ? 100 + Number(priority) : 1e6;
}

/** `7,124 (16%)`: a count and its share of `whole`. */
function withShare(part: number, whole: number): string {
  if (part === 0 || whole === 0) return count(part);
  const share = part / whole;
  return `${count(part)} (${share < 0.1 ? percent(share) : percent(share).replace(/\.\d%$/, '%')})`;
}

function spread(r: SimResult, name: string): string {
  const g = r.summary.gauges[name];
  if (g === undefined || g.mean === null) return NONE;
  return `${compact(g.mean)} (${compact(g.min)}–${compact(g.max)})`;
}

function peak(r: SimResult, name: string): string {
  const g = r.summary.gauges[name];
  if (g === undefined || g.mean === null) return NONE;
  return `${compact(g.mean)} (${compact(g.max)})`;
}
