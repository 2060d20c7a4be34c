import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { type Reply, ServerProtection, type ServerProtectionOptions, sendReply } from './core.ts';

/** Express 5 middleware guarded by a `ServerProtection`; the core is at `.protection`. */
export type ProtectionMiddleware = RequestHandler & { readonly protection: ServerProtection };

/**
 * Express 5 middleware: mount it first (`app.use(expressProtection())`) so that refused requests cost
 * nothing. It runs before routing, so classifiers see the path (`route` is undefined) and metrics are
 * bucketed by method and path unless `route` names them. On shutdown, `await middleware.protection.close()`
 * drains (readiness 503, new requests 503, in-flight ones finish), then close the server.
 */
export function expressProtection(
  options?: ServerProtectionOptions | ServerProtection,
): ProtectionMiddleware {
  const protection = options instanceof ServerProtection ? options : new ServerProtection(options);
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const answer = protection.admit(req, res, undefined);
    if (answer === undefined) next();
    else if (answer instanceof Promise) {
      void answer.then((a?: Reply | null) => {
        if (a === undefined) next();
        else if (a !== null) sendReply(res, a);
      });
    } else sendReply(res, answer);
  };
  return Object.assign(middleware, { protection });
}
