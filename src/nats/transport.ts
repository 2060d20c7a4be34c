import { ConfigError } from '../core/errors.ts';
import { or } from '../core/validate.ts';
import type { PressureTransport } from '../global/pressure-bus.ts';

/** What the transport reads of a NATS message. */
export interface NatsMessageLike {
  string(): string;
}

/** What the transport needs of a NATS connection (`NatsConnection` from `@nats-io/transport-node`). */
export interface NatsConnectionLike {
  publish(subject: string, payload?: string | Uint8Array): void;
  subscribe(
    subject: string,
    options?: { callback?: (error: Error | null, message: NatsMessageLike) => void },
  ): { unsubscribe(): void };
}

export interface NatsPressureTransportOptions {
  /** A NATS connection (`await connect({ servers })` from `@nats-io/transport-node`). */
  readonly nc: NatsConnectionLike;
  /** Prefix of the subjects: a signal named `orders` travels on `<prefix>orders`. Default `"sluice.pressure."`. */
  readonly prefix?: string;
}

/**
 * The pressure signal bus over NATS core publish/subscribe (at most once, no JetStream). The client
 * resubscribes after a reconnection; readings lost meanwhile expire at the subscribers.
 *
 * ```ts
 * const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
 * const transport = natsPressureTransport({ nc });
 * ```
 */
export function natsPressureTransport(options: NatsPressureTransportOptions): PressureTransport {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', options, 'an object');
  const nc = options.nc;
  if (
    typeof nc !== 'object' ||
    nc === null ||
    typeof nc.publish !== 'function' ||
    typeof nc.subscribe !== 'function'
  ) {
    throw new ConfigError('nc', nc, 'a NATS connection');
  }
  const prefix = or(options.prefix, 'sluice.pressure.');
  if (typeof prefix !== 'string' || /[\s*>]/.test(prefix)) {
    throw new ConfigError('prefix', prefix, 'a subject prefix without spaces or wildcards');
  }
  return {
    publish(name: string, message: string): Promise<void> {
      try {
        nc.publish(prefix + name, message);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    subscribe(name: string, listener: (message: string) => void): Promise<() => Promise<void>> {
      try {
        const subscription = nc.subscribe(prefix + name, {
          callback: (error, message) => {
            if (error !== null) return;
            let text: string;
            try {
              text = message.string();
            } catch {
              return;
            }
            listener(text);
          },
        });
        return Promise.resolve(() => {
          subscription.unsubscribe();
          return Promise.resolve();
        });
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}
