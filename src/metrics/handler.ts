import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../core/errors.ts';

/** What the handler serves: a prom-client `Registry` (any object with `metrics()` and `contentType`). */
export interface ExpositionSource {
  /** The exposition text. */
  metrics(): Promise<string>;
  /** Its media type, e.g. `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
}

/**
 * A request handler for `node:http` and Express (`app.get('/metrics', handler)`). It never rejects: a
 * failed collection answers 500.
 */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Serves the exposition of `source` on GET and HEAD (405 otherwise), uncached. Mount it at the path your
 * scraper reads: `http.createServer(metricsHandler(registry))`, or `app.get('/metrics', handler)` in
 * Express. In Fastify, send the text yourself:
 * `app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()))`.
 */
export function metricsHandler(source: ExpositionSource): MetricsHandler {
  if (typeof source !== 'object' || source === null || typeof source.metrics !== 'function') {
    throw new ConfigError(
      'source',
      source,
      'a prom-client Registry (an object with metrics() and contentType)',
    );
  }
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('sluice: metrics are read with GET\n');
      return;
    }
    let body: string;
    try {
      body = await source.metrics();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`sluice: collecting metrics failed: ${message}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': source.contentType,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
