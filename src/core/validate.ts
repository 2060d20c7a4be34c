import { ConfigError } from './errors.ts';

/** Option checks that throw a `ConfigError` naming the option, the value and what is allowed. */

export function finite(option: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(option, value, `a finite number${range(min, max)}`);
  }
  return value;
}

export function positive(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(option, value, 'a finite number > 0');
  }
  return value;
}

/** A number >= 0 that may be `Infinity` (an absent bound). */
export function nonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new ConfigError(option, value, 'a number >= 0 (Infinity allowed)');
  }
  return value;
}

export function integer(option: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(option, value, `an integer${range(min, max)}`);
  }
  return value;
}

export function fraction(option: string, value: unknown, { open = false } = {}): number {
  const ok = typeof value === 'number' && value >= 0 && value <= 1 && (!open || (value > 0 && value < 1));
  if (!ok) throw new ConfigError(option, value, open ? 'a number in (0, 1)' : 'a number in [0, 1]');
  return value as number;
}

export function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new ConfigError(option, value, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return value as T;
}

export function func<T extends (...args: never[]) => unknown>(option: string, value: unknown): T {
  if (typeof value !== 'function') throw new ConfigError(option, value, 'a function');
  return value as T;
}

/** Throws unless `lo <= hi`, naming both options. */
export function ordered(loOption: string, lo: number, hiOption: string, hi: number): void {
  if (lo > hi) {
    throw new ConfigError(loOption, lo, `<= ${hiOption} (${hi})`);
  }
}

/** Returns `value ?? fallback`; a convenience that keeps defaults beside their checks. */
export function or<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

function range(min: number, max: number): string {
  if (min > -Infinity && max < Infinity) return ` in [${min}, ${max}]`;
  if (min > -Infinity) return ` >= ${min}`;
  if (max < Infinity) return ` <= ${max}`;
  return '';
}
