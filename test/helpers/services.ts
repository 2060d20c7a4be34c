import { connect } from 'node:net';

/**
 * Local services for integration tests. Each test file asks for the services it needs at the top level:
 *
 *   const redis = await service('Redis', 'REDIS_URL', 'redis://127.0.0.1:6379');
 *   describe('...', { skip: redis.skip }, () => { ... redis.url ... });
 *
 * An unreachable service skips the tests with a message naming it and its address, except under CI=true,
 * where it throws so that the run fails instead of passing without having tested anything.
 */
export interface Service {
  readonly url: string;
  /** `false` when reachable; otherwise the reason to skip. */
  readonly skip: string | false;
}

export const services = {
  redis: () => service('Redis', 'REDIS_URL', 'redis://127.0.0.1:6379'),
  postgres: () => service('PostgreSQL', 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test'),
  rabbitmq: () => service('RabbitMQ', 'AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'),
  nats: () => service('NATS', 'NATS_URL', 'nats://127.0.0.1:4222'),
};

export async function service(name: string, envVar: string, fallback: string): Promise<Service> {
  const url = process.env[envVar] || fallback;
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const ok = await canConnect(host, Number(port) || defaultPort(url), 1000);
  if (ok) return { url, skip: false };
  const message = `${name} is not reachable at ${host}:${port} (set ${envVar} to its URL)`;
  if (process.env['CI'] === 'true')
    throw new Error(`${message}; under CI=true this fails instead of skipping`);
  return { url, skip: message };
}

function defaultPort(url: string): number {
  const scheme = url.slice(0, url.indexOf(':'));
  return { redis: 6379, postgres: 5432, postgresql: 5432, amqp: 5672, nats: 4222 }[scheme] ?? 0;
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
