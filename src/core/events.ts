import { type Channel, channel } from 'node:diagnostics_channel';

/**
 * Typed listeners plus `node:diagnostics_channel`, both free when nobody listens: a publisher asks
 * `wants(name)` before it builds a payload.
 *
 * Channel names are `sluice:<component>:<event>`, e.g. `sluice:limiter:limit` or `sluice:limiter:reject`.
 */
export type Listener<T> = (event: T) => void;

export class Events<Map extends object> {
  readonly #channels: { [K in keyof Map]?: Channel } = {};
  readonly #listeners: { [K in keyof Map]?: Listener<Map[K]>[] } = {};
  readonly #prefix: string;

  /** `component` names the channel group, e.g. `limiter` gives `sluice:limiter:<event>`. */
  constructor(component: string) {
    this.#prefix = `sluice:${component}:`;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Map & string>(name: K, listener: Listener<Map[K]>): () => void {
    const list = this.#listeners[name] ?? [];
    // Copy-on-write: a listener that unsubscribes during emit does not disturb the iteration.
    this.#listeners[name] = [...list, listener];
    return () => {
      const current = this.#listeners[name];
      if (current === undefined) return;
      const next = current.filter((l) => l !== listener);
      if (next.length > 0) this.#listeners[name] = next;
      else delete this.#listeners[name];
    };
  }

  /** True when a listener or a diagnostics_channel subscriber would receive `name`. */
  wants<K extends keyof Map & string>(name: K): boolean {
    return this.#listeners[name] !== undefined || this.#channel(name).hasSubscribers;
  }

  /** Delivers `event` to the listeners and the channel. A throwing listener does not stop the others. */
  emit<K extends keyof Map & string>(name: K, event: Map[K]): void {
    const list = this.#listeners[name];
    if (list !== undefined) {
      for (const listener of list) {
        try {
          listener(event);
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
    const ch = this.#channel(name);
    if (ch.hasSubscribers) ch.publish(event);
  }

  #channel<K extends keyof Map & string>(name: K): Channel {
    let ch = this.#channels[name];
    if (ch === undefined) {
      ch = channel(this.#prefix + name);
      this.#channels[name] = ch;
    }
    return ch;
  }
}
