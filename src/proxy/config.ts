import { plainMessage, readConfigFile, tokens, unknownOption, YamlSource } from '../config-file/yaml.ts';
import type { Clock } from '../core/clock.ts';
import { ConfigError, isConfigError, isSluiceError } from '../core/errors.ts';
import { FileError } from '../core/file-error.ts';
import { checkKeys } from '../core/spec.ts';
import { integer, nonNegative, positive } from '../core/validate.ts';
import type { Priority } from '../limiter/types.ts';
import { type RouteSpec, RouteTable } from './routes.ts';

/** Options of `createProxy`, and the keys of a proxy config file (but `clock`). */
export interface ProxyOptions {
  /** Origin of the service behind the proxy, `http://host:port` (a path is not allowed). Required. */
  readonly upstream?: string;
  /** Interface to listen on. Default `"127.0.0.1"`. */
  readonly host?: string;
  /** Port to listen on; 0 picks a free port. Default 8080. */
  readonly port?: number;
  /** Concurrency limit to the upstream: `"adaptive"` (the limiter's default algorithm) or a fixed number. Default `"adaptive"`. */
  readonly limit?: 'adaptive' | number;
  /** Queue in front of the limit: `{ size, timeout }` (ms), or `false` to shed at the limit. Default `{ size: 100, timeout: 1000 }`. */
  readonly queue?: { readonly size?: number; readonly timeout?: number } | false;
  /** Priority levels, most important first, as in `LimiterOptions.priorities`. Default the criticality names. */
  readonly priorities?: number | readonly string[];
  /** Priority of requests no route matches. Default `"normal"` (or the middle level). */
  readonly defaultPriority?: Priority;
  /** Priority classes per route, first match wins (see `RouteSpec`). Default none. */
  readonly routes?: readonly RouteSpec[];
  /** Longest wait for the upstream's response headers (ms); a timeout answers 504 and is a drop. Default 30000. */
  readonly upstreamTimeout?: number;
  /** On close, longest wait for in-flight requests before their connections are cut (ms). Default 10000. */
  readonly drainTimeout?: number;
  /** Most keep-alive connections to the upstream. Default 128. */
  readonly connections?: number;
  /**
   * Request header carrying the client's remaining time budget in milliseconds (like gRPC's timeout): the
   * request is not admitted once it cannot start in time, and the upstream wait is cut at it. A malformed
   * value answers 400. Empty string disables it. Default `"x-request-timeout"`.
   */
  readonly deadlineHeader?: string;
  /** Time source for deadlines, timeouts and the limiter. Default the system clock. */
  readonly clock?: Clock;
}

/** `ProxyOptions` validated, with defaults applied. */
export interface ProxySettings {
  readonly upstream: URL;
  readonly host: string;
  readonly port: number;
  readonly limit: 'adaptive' | number;
  readonly queue: { readonly size: number; readonly timeout: number } | false;
  readonly priorities: number | readonly string[] | undefined;
  readonly defaultPriority: Priority | undefined;
  readonly routes: RouteTable;
  readonly upstreamTimeout: number;
  readonly drainTimeout: number;
  readonly connections: number;
  /** Lower-case header name, or `undefined` when disabled. */
  readonly deadlineHeader: string | undefined;
}

const fileKeys = [
  'upstream',
  'listen',
  'limit',
  'queue',
  'priorities',
  'defaultPriority',
  'routes',
  'upstreamTimeout',
  'drainTimeout',
  'connections',
  'deadlineHeader',
] as const;
const optionKeys = ['upstream', 'host', 'port', 'clock', ...fileKeys.slice(2)];

/** Validates `options` and applies defaults; throws a `ConfigError` naming the bad option. */
export function resolveProxyOptions(options: ProxyOptions): ProxySettings {
  checkKeys('', options as Record<string, unknown>, optionKeys);
  if (options.upstream === undefined) {
    throw new ConfigError(
      'upstream',
      undefined,
      'the URL of the service behind the proxy (http://host:port)',
    );
  }
  const upstream = origin('upstream', options.upstream);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new ConfigError('host', host, 'a non-empty host name');
  const port = integer('port', options.port ?? 8080, 0, 65535);
  const limit = options.limit ?? 'adaptive';
  if (limit !== 'adaptive') integer('limit', limit, 1);
  let queue: ProxySettings['queue'] = { size: 100, timeout: 1000 };
  if (options.queue === false) queue = false;
  else if (options.queue !== undefined) {
    if (typeof options.queue !== 'object' || options.queue === null) {
      throw new ConfigError('queue', options.queue, '{ size, timeout } or false');
    }
    checkKeys('queue', options.queue as Record<string, unknown>, ['size', 'timeout']);
    queue = {
      size: integer('queue.size', options.queue.size ?? queue.size, 0),
      timeout: nonNegative('queue.timeout', options.queue.timeout ?? queue.timeout),
    };
  }
  const routes = new RouteTable(options.routes ?? [], {
    priorities: options.priorities,
    defaultPriority: options.defaultPriority,
  });
  const header = options.deadlineHeader ?? 'x-request-timeout';
  if (typeof header !== 'string' || !/^[A-Za-z0-9-]*$/.test(header)) {
    throw new ConfigError('deadlineHeader', header, 'a header name, or "" to disable');
  }
  return {
    upstream,
    host,
    port,
    limit,
    queue,
    priorities: options.priorities,
    defaultPriority: options.defaultPriority,
    routes,
    upstreamTimeout: positive('upstreamTimeout', options.upstreamTimeout ?? 30_000),
    drainTimeout: nonNegative('drainTimeout', options.drainTimeout ?? 10_000),
    connections: integer('connections', options.connections ?? 128, 1),
    deadlineHeader: header === '' ? undefined : header.toLowerCase(),
  };
}

function origin(option: string, value: unknown): URL {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.username !== ''
  ) {
    throw new ConfigError(
      option,
      value,
      'an origin such as http://127.0.0.1:3000 (no path, query or credentials)',
    );
  }
  return url;
}

/** A proxy config file that cannot be read, parsed or validated; the message names file, line and path. */
export class ProxyConfigError extends FileError {
  readonly code = 'SLUICE_PROXY_CONFIG';
  override readonly name = 'ProxyConfigError';
}

export function isProxyConfigError(error: unknown): error is ProxyConfigError {
  return isSluiceError(error) && error.code === 'SLUICE_PROXY_CONFIG';
}

/**
 * Parses a proxy config file (YAML, or JSON which YAML reads too) into `ProxyOptions`. Every key is
 * checked, and the values are validated as `createProxy` would; `upstream` may be left to the command
 * line. `listen` is `port`, `"host:port"` or `{ host, port }`.
 *
 * ```yaml
 * listen: 0.0.0.0:8080
 * upstream: http://127.0.0.1:3000
 * limit: adaptive            # or a fixed number
 * queue: { size: 100, timeout: 1000 }
 * routes:
 *   - { path: /health, priority: critical }
 *   - { path: /api/**, methods: [POST, PUT], priority: high }
 *   - { path: /reports, priority: sheddable }
 * ```
 */
export function parseProxyConfig(text: string, file = '<proxy config>'): ProxyOptions {
  // Proxy config errors carry no excerpt: the line and column are enough for a file this small.
  const yaml = new YamlSource(text);
  const syntax = yaml.syntax;
  if (syntax !== undefined) {
    const { detail, where } = yaml.syntaxError(syntax, false);
    throw new ProxyConfigError(file, detail, where);
  }
  const value: unknown = yaml.doc.toJS({ maxAliasCount: 100 });
  if (value == null) return {};
  const fail = (error: ConfigError): ProxyConfigError => {
    const path = tokens(error.option);
    // `host` and `port` are read from `listen`.
    if (path[0] === 'host' || path[0] === 'port') path[0] = 'listen';
    const range = yaml.locate(path, {
      key: error.expected.startsWith('absent'),
      orRoot: true,
      dottedKeys: false,
    });
    const detail = unknownOption(error, false) ?? plainMessage(error);
    return new ProxyConfigError(file, detail, yaml.locationOf(error, range, false));
  };
  try {
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError('', value, 'a mapping of proxy options (upstream, listen, routes, ...)');
    }
    const raw = value as Record<string, unknown>;
    checkKeys('', raw, fileKeys);
    const { listen, ...rest } = raw;
    const options = { ...rest, ...parseListen(listen) } as ProxyOptions;
    // Validate now, so that errors point into the file; the upstream may still come from the command line.
    resolveProxyOptions(options.upstream === undefined ? { ...options, upstream: 'http://x' } : options);
    return options;
  } catch (error) {
    if (isConfigError(error)) throw fail(error);
    throw error;
  }
}

/** Reads and parses the proxy config file at `path`; `name` is the file in messages (default `path`). */
export async function loadProxyConfig(path: string, name = path): Promise<ProxyOptions> {
  const text = await readConfigFile(
    path,
    (why, cause) => new ProxyConfigError(name, `cannot read the proxy config (${why})`, { cause }),
  );
  return parseProxyConfig(text, name);
}

/** `8080`, `":8080"`, `"0.0.0.0:8080"`, `"[::1]:8080"` or `{ host, port }` as host and port options. */
export function parseListen(value: unknown, option = 'listen'): { host?: string; port?: number } {
  if (value === undefined) return {};
  if (typeof value === 'number') return { port: integer(option, value, 0, 65535) };
  if (typeof value === 'string') {
    const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
    if (m === null) throw new ConfigError(option, value, 'a port, "host:port" or { host, port }');
    const host = m[1] || m[2];
    const port = integer(option, Number(m[3]), 0, 65535);
    return host ? { host, port } : { port };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    checkKeys(option, v, ['host', 'port']);
    return {
      ...(v['host'] === undefined ? {} : { host: v['host'] as string }),
      ...(v['port'] === undefined ? {} : { port: v['port'] as number }),
    };
  }
  throw new ConfigError(option, value, 'a port, "host:port" or { host, port }');
}
