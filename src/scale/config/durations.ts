import { ConfigError } from '../../core/errors.ts';

/** Times in the file: the library's options are milliseconds, the file may give them with units. */

const units: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * A time in milliseconds: a number (any: the option's own check bounds it), or a string of numbers with
 * units, `500ms`, `30s`, `5m`, `1.5h`, `1m30s`.
 */
export function time(path: string, value: unknown): number {
  if (typeof value === 'number' && !Number.isNaN(value)) return value;
  if (typeof value === 'string') {
    let rest = value.trim();
    let total = 0;
    while (rest !== '') {
      const m = /^(\d+(?:\.\d+)?)\s*(ms|min|s|m|h)\s*/.exec(rest);
      if (m === null) break;
      total += Number(m[1]) * units[m[2]!]!;
      rest = rest.slice(m[0].length);
    }
    if (rest === '' && value.trim() !== '') return total;
  }
  throw new ConfigError(
    path,
    value,
    'a time: milliseconds, or a number with a unit such as 500ms, 30s, 5m, 1h or 1m30s',
  );
}

export function optionalTime(path: string, value: unknown): number | undefined {
  return value === undefined ? undefined : time(path, value);
}
