import { isRejectedError } from '../core/errors.ts';
import type { Outcome } from './types.ts';

const overloadCodes = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ECONNREFUSED',
]);

/**
 * The default classification of an error thrown by guarded work.
 *
 * Overload signals are `dropped`: timeouts (`TimeoutError`, `ETIMEDOUT`, undici timeouts), refused
 * connections, HTTP 429 and 503 (read from `status`, `statusCode` or `response.status`), and a
 * `RejectedError` from a limiter further down. Everything else is `ignore`: a fast failure (a 404, a bad
 * request, a bug) says nothing about load, and recording its short latency would teach the algorithm an
 * artificially low RTT.
 */
export function classifyError(error: unknown): Outcome {
  if (typeof error !== 'object' || error === null) return 'ignore';
  if (isRejectedError(error)) return 'dropped';
  const e = error as {
    name?: unknown;
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    response?: { status?: unknown };
  };
  if (e.name === 'TimeoutError') return 'dropped';
  if (typeof e.code === 'string' && overloadCodes.has(e.code)) return 'dropped';
  const status = e.status ?? e.statusCode ?? e.response?.status;
  if (status === 429 || status === 503) return 'dropped';
  return 'ignore';
}
