import { type Clock, systemClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { func, integer, oneOf, or, positive } from '../../core/validate.ts';
import type { Actuator, Capacity } from '../types.ts';
import { ActuatorError, type ActuatorOperation, ActuatorTimeoutError, WebhookError } from './errors.ts';
import { ReportedCapacity, type ReportedCapacityOptions } from './reported.ts';
import { withTimeout } from './timeout.ts';

/**
 * Scales by calling a webhook: it sends `{ "replicas": n, "previous": p, "actuator": name }` as JSON (POST by
 * default) and counts any 2xx answer as accepted. Capacity comes from a `capacityUrl` (GET, answering
 * `{ "desired": d, "ready": r }`), from a `capacity` function, or else from the last successful call.
 */

export interface WebhookActuatorOptions extends ReportedCapacityOptions {
  /** Where to send the count. */
  readonly url: string | URL;
  /** HTTP method for the count. Default `"POST"`. */
  readonly method?: 'POST' | 'PUT' | 'PATCH';
  /** Headers for every request (an `authorization` header, say). `content-type` is JSON unless set here. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Where to read capacity (GET). The answer must be JSON `{ "desired": d, "ready": r }` (`"replicas"` is
   * read as `"desired"`; `"ready"` defaults to `desired`). Give this, `capacity`, or `replicas`.
   */
  readonly capacityUrl?: string | URL;
  /** Longest one request may take (ms). Default 10000. */
  readonly timeoutMs?: number;
  /** Name in records and errors. Default `"webhook:<host>"`. */
  readonly name?: string;
  /** The fetch to use (a guarded fetch from `sluice/http`, say). Default the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Time source for the timeout. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export interface WebhookActuator extends Actuator {
  capacity(signal?: AbortSignal): Promise<Capacity>;
  scale(replicas: number, signal?: AbortSignal): Promise<void>;
}

/** How much of an error answer's body is kept for the message. */
const bodyLimit = 1024;

class WebhookScaleActuator implements WebhookActuator {
  readonly name: string;
  readonly #url: URL;
  readonly #method: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #capacityUrl: URL | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;
  readonly #reported: ReportedCapacity;

  constructor(options: WebhookActuatorOptions) {
    this.#url = httpUrl('url', options.url);
    this.#capacityUrl =
      options.capacityUrl === undefined ? undefined : httpUrl('capacityUrl', options.capacityUrl);
    this.#method = oneOf('method', or(options.method, 'POST'), ['POST', 'PUT', 'PATCH'] as const);
    const headers = options.headers ?? {};
    if (typeof headers !== 'object' || !Object.values(headers).every((v) => typeof v === 'string')) {
      throw new ConfigError('headers', headers, 'an object of header names to string values');
    }
    this.#headers = headers;
    this.#timeoutMs = positive('timeoutMs', or(options.timeoutMs, 10_000));
    this.#fetch = options.fetch === undefined ? globalThis.fetch : func<typeof fetch>('fetch', options.fetch);
    this.#clock = options.clock ?? systemClock;
    this.name = or(options.name, `webhook:${this.#url.host}`);
    this.#reported = new ReportedCapacity(this.name, options, this.#capacityUrl !== undefined);
  }

  async capacity(signal?: AbortSignal): Promise<Capacity> {
    const own = await this.#reported.read(signal ?? new AbortController().signal);
    if (own !== undefined) return own;
    if (this.#capacityUrl === undefined) return this.#reported.last();
    const url = this.#capacityUrl;
    const text = await this.#request('capacity', 'GET', url, undefined, signal);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const { desired, replicas, ready } = (typeof value === 'object' && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    const d = desired ?? replicas;
    return this.#reported.accept(
      { desired: d, ready: ready ?? d },
      `GET ${shown(url)} answered`,
      text.trim(),
    );
  }

  async scale(replicas: number, signal?: AbortSignal): Promise<void> {
    integer('replicas', replicas, 0);
    const previous = this.#reported.desired;
    const body = JSON.stringify({
      replicas,
      ...(previous === undefined ? {} : { previous }),
      actuator: this.name,
    });
    await this.#request('scale', this.#method, this.#url, body, signal);
    this.#reported.applied(replicas);
  }

  /** One request under the timeout; resolves with the answer's text, or throws a typed error. */
  async #request(
    operation: ActuatorOperation,
    method: string,
    url: URL,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const headers = new Headers({ accept: 'application/json' });
    if (body !== undefined) headers.set('content-type', 'application/json');
    for (const [name, value] of Object.entries(this.#headers)) headers.set(name, value);
    const timeout = () =>
      new ActuatorTimeoutError(this.name, operation, `${method} ${shown(url)}`, this.#timeoutMs);
    try {
      return await withTimeout(this.#clock, this.#timeoutMs, signal, timeout, async (linked) => {
        const response = await this.#fetch(url, { method, headers, body: body ?? null, signal: linked });
        const text = await response.text();
        if (!response.ok) {
          throw new WebhookError(
            this.name,
            operation,
            method,
            shown(url),
            response.status,
            text.slice(0, bodyLimit),
          );
        }
        return text;
      });
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (error instanceof ActuatorError) throw error;
      const detail = error instanceof Error ? describeFetchError(error) : String(error);
      throw new ActuatorError(this.name, operation, `${method} ${shown(url)} failed: ${detail}`, error);
    }
  }
}

function httpUrl(option: string, value: unknown): URL {
  let url: URL | undefined;
  try {
    url = value instanceof URL ? value : typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(option, value, 'an http: or https: URL');
  }
  return url;
}

/** The URL without its query and credentials, which may hold secrets: messages end up in logs. */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** fetch's own message is "fetch failed"; the reason (a refused connection, say) is in its cause. */
function describeFetchError(error: Error): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}

/**
 * An actuator that calls a webhook to scale.
 *
 * ```ts
 * const actuator = webhookActuator({
 *   url: 'https://deploy.internal/services/web/replicas',
 *   headers: { authorization: `Bearer ${token}` },
 *   capacityUrl: 'https://deploy.internal/services/web/capacity',
 * });
 * await actuator.scale(5); // POST {"replicas":5,"previous":3,"actuator":"webhook:deploy.internal"}
 * ```
 */
export function webhookActuator(options: WebhookActuatorOptions): WebhookActuator {
  return new WebhookScaleActuator(options);
}
