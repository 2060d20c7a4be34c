import { ConfigError, isConfigError } from '../core/errors.ts';
import { isPlainObject, join } from '../core/spec.ts';

/**
 * Builds a component from scenario options. A `ConfigError` it throws is re-thrown with the option's path
 * inside the scenario (the component's own prefix, such as `gradient2.`, replaced by `path`). The options are
 * first handed to a build whose result is discarded, behind proxies that note which keys (nested ones too)
 * the component reads: a key it never read is a misspelt or unknown option, and is reported as such.
 */
export function construct<T>(
  path: string,
  options: Record<string, unknown>,
  build: (options: Record<string, unknown>) => T,
  prefix = '',
): T {
  const read = new Set<string>();
  const rethrow = (error: unknown): never => {
    if (!isConfigError(error)) throw error;
    const own = prefix !== '' && error.option.startsWith(`${prefix}.`);
    throw new ConfigError(
      join(path, own ? error.option.slice(prefix.length + 1) : error.option),
      error.value,
      error.expected,
    );
  };
  try {
    build(watch(options, '', read));
  } catch (error) {
    rethrow(error);
  }
  unread(options, '', read, path);
  try {
    return build(options);
  } catch (error) {
    return rethrow(error);
  }
}

/** A view of `target` that records the dotted path of every key read, and watches nested plain objects. */
function watch(target: Record<string, unknown>, at: string, read: Set<string>): Record<string, unknown> {
  return new Proxy(target, {
    get(t, key, receiver) {
      const value: unknown = Reflect.get(t, key, receiver);
      if (typeof key !== 'string') return value;
      const here = at === '' ? key : `${at}.${key}`;
      read.add(here);
      return isPlainObject(value) ? watch(value, here, read) : value;
    },
  });
}

function unread(options: Record<string, unknown>, at: string, read: Set<string>, path: string): void {
  for (const [key, value] of Object.entries(options)) {
    const here = at === '' ? key : `${at}.${key}`;
    if (!read.has(here))
      throw new ConfigError(join(path, here), value, 'absent (an option this component does not have)');
    if (isPlainObject(value)) unread(value, here, read, path);
  }
}
