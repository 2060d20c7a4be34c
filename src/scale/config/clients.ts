import { ConfigError } from '../../core/errors.ts';
import type { KubeConfigLike } from '../actuators/kubernetes.ts';
import type { CollectedJetStreamManager } from '../collectors/nats.ts';
import type { Clients } from './collectors.ts';
import { MissingPackageError } from './errors.ts';
import type { CollectorConfig, KubernetesActuatorConfig } from './types.ts';

/**
 * Connections to the services the collectors read, and the Kubernetes config of the actuator. Each client
 * library is an optional peer dependency, loaded by dynamic import only when a config asks for it; a
 * missing one is a `MissingPackageError`. Connections are made on first use and made again when lost.
 */

/** Clients with what closes them. */
export interface Connected {
  readonly clients: Clients;
  close(): Promise<void>;
}

export const nothing = async (): Promise<void> => {};

/**
 * Loads the library a collector of `spec`'s type needs and makes its client, not yet connected.
 * `deadline` (ms) bounds connecting and, for SQL, each statement; `path` names the collector in errors.
 */
export async function connect(spec: CollectorConfig, path: string, deadline: number): Promise<Connected> {
  switch (spec.type) {
    case 'prometheus':
    case 'promql':
      return { clients: {}, close: nothing };
    case 'rabbitmq': {
      const amqp = await load('amqplib', path, 'type rabbitmq', () => import('amqplib'));
      const client = rabbitmqClient(amqp, spec.url, deadline);
      return { clients: { channel: client.channel }, close: client.close };
    }
    case 'nats': {
      const transport = await load(
        '@nats-io/transport-node',
        path,
        'type nats',
        () => import('@nats-io/transport-node'),
      );
      const jetstream = await load(
        '@nats-io/jetstream',
        path,
        'type nats',
        () => import('@nats-io/jetstream'),
      );
      const client = natsClient(transport, jetstream, spec.url, deadline);
      return { clients: { jsm: client.jsm }, close: client.close };
    }
    case 'redis-stream': {
      const ioredis = await load('ioredis', path, 'type redis-stream', () => import('ioredis'));
      const Redis = ioredis.Redis ?? ioredis.default;
      const redis = new Redis(spec.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: deadline,
      });
      // ioredis reconnects by itself; without a listener, each failed attempt is logged as unhandled.
      redis.on('error', () => {});
      return { clients: { redis }, close: async () => redis.disconnect() };
    }
    case 'sql': {
      const module = await load('pg', path, 'type sql', () => import('pg'));
      const Pool = module.Pool ?? module.default.Pool;
      const pool = new Pool({
        connectionString: spec.url,
        max: 1,
        connectionTimeoutMillis: Math.ceil(deadline),
        statement_timeout: Math.ceil(deadline),
      });
      pool.on('error', () => {}); // an idle connection lost; the next query makes a new one
      return { clients: { query: (sql, params) => pool.query(sql, params) }, close: () => pool.end() };
    }
  }
}

/**
 * Loads @kubernetes/client-node for the actuator, and the kubeconfig `spec` names (its file, its context);
 * `undefined` when it names none, for the actuator's own default.
 */
export async function kubeConfigOf(spec: KubernetesActuatorConfig): Promise<KubeConfigLike | undefined> {
  const k8s = await load(
    '@kubernetes/client-node',
    'actuator',
    'type kubernetes',
    () => import('@kubernetes/client-node'),
  );
  if (spec.kubeconfig === undefined && spec.context === undefined) return undefined;
  const kc = new k8s.KubeConfig();
  try {
    if (spec.kubeconfig === undefined) kc.loadFromDefault();
    else kc.loadFromFile(spec.kubeconfig);
  } catch (error) {
    throw new ConfigError(
      'actuator.kubeconfig',
      spec.kubeconfig,
      `a readable kubeconfig file (${(error as Error).message})`,
    );
  }
  if (spec.context !== undefined) {
    if (kc.getContextObject(spec.context) == null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new ConfigError(
        'actuator.context',
        spec.context,
        `a context of the kubeconfig (${known.join(', ') || 'it has none'})`,
      );
    }
    kc.setCurrentContext(spec.context);
  }
  return kc;
}

async function load<T>(
  packageName: string,
  option: string,
  what: string,
  importer: () => Promise<T>,
): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    throw new MissingPackageError(packageName, option, what, error);
  }
}

/**
 * A client made on first use and made again after it was lost. `open` gets a `lost` callback to call when
 * the client closes by itself; a failed open is forgotten, so the next use tries again. After `close()`,
 * uses fail.
 */
class Reconnecting<T> {
  readonly #open: (lost: () => void) => Promise<T>;
  readonly #end: (client: T) => Promise<void>;
  #client: Promise<T> | undefined;
  #closed = false;

  constructor(open: (lost: () => void) => Promise<T>, end: (client: T) => Promise<void>) {
    this.#open = open;
    this.#end = end;
  }

  get(): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the collector is closed'));
    if (this.#client === undefined) {
      let opening: Promise<T> | undefined;
      const lost = (): void => {
        if (this.#client === opening) this.#client = undefined;
      };
      opening = this.#open(lost);
      this.#client = opening;
      opening.catch(lost);
    }
    return this.#client;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const opening = this.#client;
    this.#client = undefined;
    if (opening === undefined) return;
    let client: T;
    try {
      client = await opening;
    } catch {
      return; // never opened: nothing to close
    }
    try {
      await this.#end(client);
    } catch {
      // already gone
    }
  }
}

type Amqp = typeof import('amqplib');
type AmqpChannel = Awaited<ReturnType<Awaited<ReturnType<Amqp['connect']>>['createChannel']>>;

/**
 * A channel for queue checks over one connection, both made again when lost: RabbitMQ closes a channel
 * whose queue check fails (a queue that does not exist), and a connection may drop.
 */
function rabbitmqClient(amqp: Amqp, url: string, deadline: number) {
  const connect = amqp.connect ?? (amqp as unknown as { default: Amqp }).default.connect;
  const connection = new Reconnecting(
    async (lost) => {
      const model = await connect(url, { timeout: Math.ceil(deadline) });
      model.on('close', lost);
      model.on('error', () => {}); // followed by 'close'; without a listener it would crash the process
      return model;
    },
    (model) => model.close(),
  );
  const channel = new Reconnecting<AmqpChannel>(
    async (lost) => {
      const ch = await (await connection.get()).createChannel();
      ch.on('close', lost);
      ch.on('error', () => {}); // a failed check: the collect already failed with it
      return ch;
    },
    (ch) => ch.close(),
  );
  return {
    channel: { checkQueue: async (queue: string) => (await channel.get()).checkQueue(queue) },
    close: async () => {
      await channel.close();
      await connection.close();
    },
  };
}

/** A JetStream manager over one connection, made on first use; the NATS client reconnects by itself after that. */
function natsClient(
  transport: typeof import('@nats-io/transport-node'),
  jetstream: typeof import('@nats-io/jetstream'),
  url: string,
  deadline: number,
) {
  const parsed = new URL(url);
  const credentials: Record<string, string> = {};
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  if (user !== '' && pass === '') credentials['token'] = user;
  else if (user !== '') Object.assign(credentials, { user, pass });
  const server = `${parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname}:${parsed.port || 4222}`;
  const client = new Reconnecting(
    async (lost) => {
      const nc = await transport.connect({
        servers: server,
        ...credentials,
        ...(parsed.protocol === 'tls:' ? { tls: {} } : {}),
        timeout: Math.ceil(deadline),
        maxReconnectAttempts: -1,
      });
      void nc.closed().then(lost);
      try {
        return { nc, jsm: await jetstream.jetstreamManager(nc) };
      } catch (error) {
        await nc.close();
        throw error;
      }
    },
    ({ nc }) => nc.close(),
  );
  const jsm: CollectedJetStreamManager = {
    consumers: {
      info: async (stream, consumer) => (await client.get()).jsm.consumers.info(stream, consumer),
    },
    streams: {
      getMessage: async (stream, query) => (await client.get()).jsm.streams.getMessage(stream, query),
    },
  };
  return { jsm, close: () => client.close() };
}
