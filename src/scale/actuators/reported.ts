import { ConfigError } from '../../core/errors.ts';
import { func, integer } from '../../core/validate.ts';
import type { Capacity } from '../types.ts';
import { ActuatorError } from './errors.ts';

/**
 * Capacity for actuators that can only ask (a command, a webhook): the count of the last successful scale,
 * or what a source the user gives reports. Shared so both read and check capacity the same way.
 */

export type CapacitySource = (signal: AbortSignal) => Capacity | Promise<Capacity>;

export interface ReportedCapacityOptions {
  /** Replicas running when the actuator is made; reported until the first successful scale. */
  readonly replicas?: number;
  /**
   * Reads the real capacity (from a metrics endpoint, `kubectl get`, a cloud API). Without it, the actuator
   * reports the count of its last successful scale as both desired and ready.
   */
  readonly capacity?: CapacitySource;
}

export class ReportedCapacity {
  readonly #name: string;
  readonly #source: CapacitySource | undefined;
  /** Replicas last applied or read; undefined until known. */
  #desired: number | undefined;

  /** `hasOtherSource` is true when the actuator has its own way to read capacity (a capacity URL). */
  constructor(name: string, options: ReportedCapacityOptions, hasOtherSource = false) {
    this.#name = name;
    this.#source =
      options.capacity === undefined ? undefined : func<CapacitySource>('capacity', options.capacity);
    this.#desired = options.replicas === undefined ? undefined : integer('replicas', options.replicas, 0);
    if (this.#desired === undefined && this.#source === undefined && !hasOtherSource) {
      throw new ConfigError(
        'replicas',
        undefined,
        'the replicas running now (an integer >= 0) when no "capacity" source is given',
      );
    }
  }

  /** The count last applied or read, if known. */
  get desired(): number | undefined {
    return this.#desired;
  }

  /** Records a count the actuator applied successfully. */
  applied(replicas: number): void {
    this.#desired = replicas;
  }

  /** Reads the user's source if there is one, else returns `undefined` (the caller may have its own). */
  async read(signal: AbortSignal): Promise<Capacity | undefined> {
    if (this.#source === undefined) return undefined;
    return this.accept(await this.#source(signal), 'the "capacity" function returned');
  }

  /** The last applied count as capacity (ready assumed equal: nothing better is known). */
  last(): Capacity {
    const desired = this.#desired ?? 0;
    return { desired, ready: desired };
  }

  /** Checks a capacity read from outside and remembers its desired count; `raw` is what the message shows. */
  accept(value: unknown, what: string, raw: unknown = value): Capacity {
    const { desired, ready } = (value ?? {}) as { desired?: unknown; ready?: unknown };
    if (!isCount(desired) || !isCount(ready)) {
      throw new ActuatorError(
        this.#name,
        'capacity',
        `${what} ${typeof raw === 'string' ? raw.slice(0, 200) : JSON.stringify(raw)}; expected { desired, ready } with integers >= 0`,
      );
    }
    this.#desired = desired;
    return { desired, ready };
  }
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}
