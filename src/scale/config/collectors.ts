import type { Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { checkKeys, isPlainObject, join, object } from '../../core/spec.ts';
import { oneOf } from '../../core/validate.ts';
import { type CollectedJetStreamManager, natsCollector } from '../collectors/nats.ts';
import { prometheusCollector, promqlCollector } from '../collectors/prometheus.ts';
import { type QueueCheckingChannel, rabbitmqCollector } from '../collectors/rabbitmq.ts';
import { type RedisCaller, redisStreamCollector } from '../collectors/redis-stream.ts';
import { sqlCollector } from '../collectors/sql.ts';
import type { Collector } from '../types.ts';
import { relocated } from './errors.ts';
import { defined } from './fields.ts';
import type { CollectorConfig } from './types.ts';

/** The `collectors:` section: each entry read, checked, and made into a collector over given clients. */

const collectorKeys = {
  prometheus: ['url', 'metrics', 'absent', 'headers', 'name'],
  promql: ['url', 'queries', 'absent', 'headers', 'name'],
  rabbitmq: ['url', 'queues', 'name'],
  nats: ['url', 'stream', 'consumer', 'oldestAge', 'name'],
  'redis-stream': ['url', 'stream', 'group', 'oldestAge', 'name'],
  sql: ['url', 'sql', 'params', 'name'],
} as const;
type CollectorType = keyof typeof collectorKeys;
const collectorTypes = Object.keys(collectorKeys) as CollectorType[];

/** URL schemes of the collectors that connect to a service, with an example for messages. */
const serviceUrls: Readonly<
  Record<string, { readonly schemes: readonly string[]; readonly example: string }>
> = {
  rabbitmq: { schemes: ['amqp:', 'amqps:'], example: 'amqp://guest:guest@127.0.0.1:5672' },
  nats: { schemes: ['nats:', 'tls:'], example: 'nats://127.0.0.1:4222' },
  'redis-stream': { schemes: ['redis:', 'rediss:'], example: 'redis://127.0.0.1:6379' },
  sql: { schemes: ['postgres:', 'postgresql:'], example: 'postgres://user@127.0.0.1:5432/db' },
};

export function readCollector(path: string, value: unknown): CollectorConfig {
  const raw = object(path, value, `a collector: a mapping with a type (${collectorTypes.join(', ')})`);
  const type = oneOf(join(path, 'type'), raw['type'], collectorTypes);
  checkKeys(path, raw, ['type', ...collectorKeys[type]]);
  const service = serviceUrls[type];
  if (service !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = typeof raw['url'] === 'string' ? new URL(raw['url']) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !service.schemes.includes(parsed.protocol)) {
      throw new ConfigError(
        join(path, 'url'),
        raw['url'],
        `a URL such as ${service.example} (${service.schemes.join(' or ')})`,
      );
    }
  }
  if (type === 'prometheus' && isPlainObject(raw['metrics'])) {
    for (const [reading, selection] of Object.entries(raw['metrics'])) {
      if (isPlainObject(selection))
        checkKeys(`${path}.metrics.${reading}`, selection, ['series', 'aggregate', 'rate']);
    }
  }
  return { ...raw } as unknown as CollectorConfig;
}

/** The clients of the services collectors read; each collector uses the one its type needs. */
export interface Clients {
  readonly channel?: QueueCheckingChannel;
  readonly jsm?: CollectedJetStreamManager;
  readonly redis?: RedisCaller;
  readonly query?: (sql: string, params: unknown[]) => Promise<unknown>;
}

/** The collector `spec` describes, over `clients`; its factory's errors named under `path`. */
export function collectorOf(
  spec: CollectorConfig,
  path: string,
  clock: Clock | undefined,
  clients: Clients,
): Collector {
  const timing = defined({ clock });
  return relocated(path, {}, () => {
    switch (spec.type) {
      case 'prometheus': {
        const { type: _, ...options } = spec;
        return prometheusCollector({ ...options, ...timing });
      }
      case 'promql': {
        const { type: _, ...options } = spec;
        return promqlCollector(options);
      }
      case 'rabbitmq':
        return rabbitmqCollector({
          channel: clients.channel!,
          queues: spec.queues,
          ...defined({ name: spec.name }),
          ...timing,
        });
      case 'nats':
        return natsCollector({
          jsm: clients.jsm!,
          stream: spec.stream,
          consumer: spec.consumer,
          ...defined({ oldestAge: spec.oldestAge, name: spec.name }),
          ...timing,
        });
      case 'redis-stream':
        return redisStreamCollector({
          redis: clients.redis!,
          stream: spec.stream,
          group: spec.group,
          ...defined({ oldestAge: spec.oldestAge, name: spec.name }),
          ...timing,
        });
      case 'sql':
        return sqlCollector({
          query: clients.query!,
          sql: spec.sql,
          ...defined({ params: spec.params, name: spec.name }),
          ...timing,
        });
    }
  });
}
