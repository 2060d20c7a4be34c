import { ConfigError } from '../core/errors.ts';
import { criticality, type Priority } from './types.ts';

/**
 * Priority levels as the limiter defines them, for the policies that treat priorities differently: a count
 * (levels `0..n-1`) or names, most important first; by default the criticality names. A call without a
 * priority takes the default level: `"normal"` if named, else the middle one (rounded towards the more
 * important).
 */
export class PriorityLevels {
  readonly names: readonly string[];
  /** Level of a call that gives no priority. */
  readonly defaultLevel: number;

  constructor(option: string, given: number | readonly string[] | undefined) {
    const p = given ?? criticality;
    if (typeof p === 'number') {
      if (!Number.isInteger(p) || p < 1 || p > 64) {
        throw new ConfigError(option, p, 'a level count in [1, 64] or 1 to 64 non-empty names');
      }
      this.names = Array.from({ length: p }, (_, i) => String(i));
      this.defaultLevel = Math.floor((p - 1) / 2);
    } else if (
      Array.isArray(p) &&
      p.length > 0 &&
      p.length <= 64 &&
      p.every((n) => typeof n === 'string' && n !== '')
    ) {
      if (new Set(p).size !== p.length) throw new ConfigError(option, p, 'distinct names');
      this.names = [...p];
      const normal = p.indexOf('normal');
      this.defaultLevel = normal >= 0 ? normal : Math.floor((p.length - 1) / 2);
    } else {
      throw new ConfigError(
        option,
        p,
        'a level count in [1, 64] or 1 to 64 non-empty names, most important first',
      );
    }
  }

  get count(): number {
    return this.names.length;
  }

  /** Level index of `priority` (0 is the most important); throws a `ConfigError` for an unknown one. */
  index(priority: Priority | undefined, option = 'priority'): number {
    if (priority === undefined) return this.defaultLevel;
    if (typeof priority === 'number') {
      if (Number.isInteger(priority) && priority >= 0 && priority < this.names.length) return priority;
      throw new ConfigError(
        option,
        priority,
        `an integer in [0, ${this.names.length - 1}] or ${this.#list()}`,
      );
    }
    const i = this.names.indexOf(priority);
    if (i < 0) throw new ConfigError(option, priority, `${this.#list()} or a level index`);
    return i;
  }

  #list(): string {
    return `one of ${this.names.map((n) => JSON.stringify(n)).join(', ')}`;
  }
}
