/** Number formatting shared by the terminal and HTML reports (en-US digits, so reports read the same everywhere). */

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** Placeholder for a value that does not exist (no samples, no such gauge). */
export const NONE = '—';

/** An integer count with thousands separators: `12,345`. */
export function count(n: number | null | undefined): string {
  return n == null || !Number.isFinite(n) ? NONE : grouped.format(n);
}

/** A rate or other quantity: one decimal below 100, whole above: `7.5`, `1,105`. */
export function amount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return NONE;
  return Math.abs(n) < 100 ? oneDecimal.format(n) : grouped.format(n);
}

/** Milliseconds: one decimal below 10, whole above: `2.5`, `117`, `1,204`. */
export function ms(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return NONE;
  return Math.abs(n) < 10 ? oneDecimal.format(n) : grouped.format(n);
}

/** A share as a percentage: `62.7%`; below 0.1% but not 0, `<0.1%`. */
export function percent(share: number | null | undefined): string {
  if (share == null || !Number.isFinite(share)) return NONE;
  if (share > 0 && share < 0.001) return '<0.1%';
  return `${oneDecimal.format(share * 100)}%`;
}

/** Simulated time: `850 ms`, `60 s`, `2.5 min`. */
export function duration(msValue: number): string {
  if (msValue < 1000) return `${grouped.format(msValue)} ms`;
  if (msValue < 120_000) return `${amount(msValue / 1000).replace(/\.0$/, '')} s`;
  return `${amount(msValue / 60_000).replace(/\.0$/, '')} min`;
}

/** Like `amount`, but whole numbers without a decimal: `20`, `21.5`, `1,204`. */
export function compact(n: number | null | undefined): string {
  return n != null && Number.isInteger(n) ? count(n) : amount(n);
}
