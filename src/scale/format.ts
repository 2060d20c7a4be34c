/** Formatting shared by the guards' reasons and the decisions' summaries: short, with units, no noise. */

/** `850 ms`, `12 s`, `2.5 min`, `1.5 h`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (Math.abs(ms) < 1000) return `${round(ms, 0)} ms`;
  if (Math.abs(ms) < 120_000) return `${round(ms / 1000, 1)} s`;
  if (Math.abs(ms) < 7_200_000) return `${round(ms / 60_000, 1)} min`;
  return `${round(ms / 3_600_000, 1)} h`;
}

/** A number with at most `digits` decimals and no trailing zeros. */
export function num(n: number, digits = 2): string {
  return Number.isFinite(n) ? String(round(n, digits)) : String(n);
}

/** A price or spend with two decimals. */
export function money(n: number): string {
  return n.toFixed(2);
}

/** `+3`, `-2`, `0`. */
export function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
