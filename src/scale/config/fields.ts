import { ConfigError } from '../../core/errors.ts';
import { checkKeys, join, object } from '../../core/spec.ts';

/** A mapping read from the file, and one being built for the library's options. */
export type Raw = Record<string, unknown>;
export type Out = Record<string, unknown>;

/** Sets `out[key]` unless `value` is undefined: options are exact (absent, never undefined). */
export function put(out: Out, key: string, value: unknown): void {
  if (value !== undefined) out[key] = value;
}

/** `fields` without those that are undefined, to spread into exact options. */
export function defined<T extends Record<string, unknown>>(
  fields: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Out = {};
  for (const [key, value] of Object.entries(fields)) put(out, key, value);
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** `value` as a mapping with only `allowed` keys, or a `ConfigError` naming `path`. */
export function mapping(path: string, value: unknown, allowed: readonly string[], what = 'a mapping'): Raw {
  const raw = object(path, value, what);
  checkKeys(path, raw, allowed);
  return raw;
}

/** `value` as a mapping of names to strings (an environment), or a `ConfigError` naming `path`. */
export function strings(path: string, value: unknown): Record<string, string> {
  const raw = object(path, value, 'a mapping of names to strings');
  for (const [key, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new ConfigError(join(path, key), v, 'a string');
  }
  return raw as Record<string, string>;
}
