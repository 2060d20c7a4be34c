import { ConfigError } from './errors.ts';

/**
 * Checks shared by the parsers of configuration files (scenarios, the proxy's config). They come from
 * YAML and JSON, so a misspelt option must fail loudly with its path (`downstream.faults[1].durtion`)
 * rather than be silently ignored.
 */

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Returns `value` as an object, or throws naming `path`. */
export function object(path: string, value: unknown, what = 'an object'): Record<string, unknown> {
  if (!isPlainObject(value)) throw new ConfigError(path, value, what);
  return value;
}

/** Throws on the first key of `value` that is not in `allowed`. */
export function checkKeys(path: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        join(path, key),
        value[key],
        `absent (unknown option; known: ${allowed.join(', ')})`,
      );
    }
  }
}

/** `a.b`, or `b` at the root. */
export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Returns `value` as an array, or throws naming `path`. */
export function array(path: string, value: unknown, what = 'an array'): readonly unknown[] {
  if (!Array.isArray(value)) throw new ConfigError(path, value, what);
  return value;
}

export function bool(path: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(path, value, 'a boolean');
  return value;
}

export function text(path: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(path, value, 'a non-empty string');
  return value;
}
