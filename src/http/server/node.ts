import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { type Reply, ServerProtection, type ServerProtectionOptions, sendReply } from './core.ts';

/** A node:http request listener guarded by a `ServerProtection`; the core is at `.protection`. */
export type ProtectedListener = RequestListener & { readonly protection: ServerProtection };

/**
 * Guards a node:http request listener: admits each request through the protection's adaptive limit, or
 * answers it (503, 429, 400, a health probe) without calling `listener`.
 *
 * ```ts
 * const listener = protect((req, res) => res.end('ok'));
 * const server = http.createServer(listener).listen(8080);
 * process.once('SIGTERM', async () => {
 *   await listener.protection.close(); // readiness 503, new requests 503, in-flight ones finish
 *   server.close();
 * });
 * ```
 */
export function protect(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  options?: ServerProtectionOptions | ServerProtection,
): ProtectedListener {
  const protection = options instanceof ServerProtection ? options : new ServerProtection(options);
  const guarded = (req: IncomingMessage, res: ServerResponse): void => {
    const answer = protection.admit(req, res, undefined);
    if (answer === undefined) listener(req, res);
    else if (answer instanceof Promise) {
      void answer.then((a?: Reply | null) => {
        if (a === undefined) listener(req, res);
        else if (a !== null) sendReply(res, a);
      });
    } else sendReply(res, answer);
  };
  return Object.assign(guarded, { protection });
}
