import type { Clock, Timer } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { integer, nonNegative, or } from '../../core/validate.ts';
import type { Actuator, Capacity } from '../types.ts';

/**
 * Replicas that exist only as numbers: new ones become ready `startupMs` after they are asked for, on the
 * given clock; removed ones go at once, the newest (still starting) first. For tests, for the controller on
 * virtual time, and for examples that need capacity without a cluster.
 */

export interface MemoryActuatorOptions {
  /** Replicas at the start, all ready. An integer >= 0. */
  readonly replicas: number;
  /** Time a new replica takes to become ready (ms). Default 0: ready as soon as asked for. */
  readonly startupMs?: number;
  /** Time source for the start-up delay (a `VirtualClock` in tests). */
  readonly clock: Clock;
  /** Name in records. Default `"memory"`. */
  readonly name?: string;
}

/** One call to `scale()`. */
export interface MemoryScaleCall {
  /** Clock time of the call (ms). */
  readonly at: number;
  /** Replicas asked for. */
  readonly replicas: number;
}

export interface MemoryActuator extends Actuator {
  capacity(signal?: AbortSignal): Capacity;
  scale(replicas: number, signal?: AbortSignal): void;
  close(): void;
  /** Replicas asked for. */
  readonly desired: number;
  /** Replicas ready. */
  readonly ready: number;
  /** Replicas asked for and not yet ready. */
  readonly starting: number;
  /** The latest calls to `scale()`, oldest first (the last 1000). */
  readonly history: readonly MemoryScaleCall[];
}

const historyLimit = 1000;

interface Batch {
  count: number;
  readonly timer: Timer | undefined;
}

class InMemoryActuator implements MemoryActuator {
  readonly name: string;
  readonly #clock: Clock;
  readonly #startupMs: number;
  #ready: number;
  /** Replicas still starting, in the order they were asked for (newest last). */
  readonly #batches: Batch[] = [];
  readonly #history: MemoryScaleCall[] = [];

  constructor(options: MemoryActuatorOptions) {
    this.#ready = integer('replicas', options.replicas, 0);
    this.#startupMs = nonNegative('startupMs', or(options.startupMs, 0));
    const clock = options.clock as Partial<Clock> | undefined;
    if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') {
      throw new ConfigError('clock', options.clock, 'a Clock (systemClock, or a VirtualClock in tests)');
    }
    this.#clock = options.clock;
    this.name = or(options.name, 'memory');
  }

  get ready(): number {
    return this.#ready;
  }

  get starting(): number {
    let n = 0;
    for (const b of this.#batches) n += b.count;
    return n;
  }

  get desired(): number {
    return this.#ready + this.starting;
  }

  get history(): readonly MemoryScaleCall[] {
    return this.#history;
  }

  capacity(): Capacity {
    return { desired: this.desired, ready: this.#ready };
  }

  scale(replicas: number): void {
    integer('replicas', replicas, 0);
    this.#history.push({ at: this.#clock.now(), replicas });
    if (this.#history.length > historyLimit) this.#history.shift();
    const delta = replicas - this.desired;
    if (delta > 0) this.#start(delta);
    else if (delta < 0) this.#remove(-delta);
  }

  close(): void {
    for (const b of this.#batches) b.timer?.cancel();
    this.#batches.length = 0;
  }

  #start(count: number): void {
    if (this.#startupMs === 0) {
      this.#ready += count;
      return;
    }
    const batch: Batch = {
      count,
      timer: this.#clock.setTimer(() => {
        this.#ready += batch.count;
        this.#batches.splice(this.#batches.indexOf(batch), 1);
      }, this.#startupMs),
    };
    this.#batches.push(batch);
  }

  /** Removes the newest first: starting replicas serve nobody yet, so they are the cheapest to lose. */
  #remove(count: number): void {
    let left = count;
    while (left > 0 && this.#batches.length > 0) {
      const newest = this.#batches[this.#batches.length - 1]!;
      const take = Math.min(left, newest.count);
      newest.count -= take;
      left -= take;
      if (newest.count === 0) {
        newest.timer?.cancel();
        this.#batches.pop();
      }
    }
    this.#ready -= left;
  }
}

/**
 * An in-memory actuator.
 *
 * ```ts
 * const clock = new VirtualClock();
 * const actuator = memoryActuator({ replicas: 2, startupMs: 30_000, clock });
 * actuator.scale(5);
 * actuator.capacity(); // { desired: 5, ready: 2 }
 * clock.advance(30_000);
 * actuator.capacity(); // { desired: 5, ready: 5 }
 * ```
 */
export function memoryActuator(options: MemoryActuatorOptions): MemoryActuator {
  return new InMemoryActuator(options);
}
