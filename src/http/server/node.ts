import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { type Reply, ServerProtection, type ServerProtectionOptions, sendReply } from './core.ts';

/** A node:http request listener guarded by a `ServerProtection`; the core is at `.protection`. */
export type ProtectedListener = RequestListener & { readonly protection: ServerProtection };

/**
 * Guards a node:http request listener: admits each request through the protection's adaptive limit, or
 * answers it (503, 429, 400, a health probe) without calling `listener`.
 *
 * ```ts
 * const server = http.createServer(protect((req, res) => res.end('ok')));
 * ```
 */
export function protect(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  options?: ServerProtectionOptions | ServerProtection,
): ProtectedListener {
  const protection = options instanceof ServerProtection ? options : new ServerProtection(options);
  const guarded = (req: IncomingMessage, res: ServerResponse): void => {
    protection.handle(req, res, undefined, (reply?: Reply) => {
      if (reply === undefined) listener(req, res);
      else sendReply(res, reply);
    });
  };
  return Object.assign(guarded, { protection });
}
