import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { type Reply, ServerProtection, type ServerProtectionOptions } from './core.ts';

/** Options of the Fastify plugin: the core's options, or a core built beforehand. */
export type FastifyProtectionOptions = ServerProtectionOptions | { readonly protection: ServerProtection };

declare module 'fastify' {
  interface FastifyInstance {
    /** The sluice server protection guarding this instance. */
    sluice: ServerProtection;
  }
}

/**
 * Fastify 5 plugin: an `onRequest` hook admits each request (classifiers see the route template), and
 * `fastify.sluice` holds the core. It is not encapsulated (like a plugin wrapped in fastify-plugin), so it
 * guards every route of the instance it is registered on.
 *
 * Shutdown: `fastify.close()` drains through a `preClose` hook, before Fastify closes the server: requests
 * in flight and queued finish (or are cut after the `drainTimeout` option), and `fastify.sluice.close()`
 * gives the result. While Fastify closes, it answers new requests itself (503 with `Connection: close`)
 * unless the instance was created with `return503OnClosing: false`, when sluice answers them (503 with
 * `Retry-After`). To fail readiness first and keep serving while a load balancer notices, call
 * `await fastify.sluice.close()` and then `fastify.close()`.
 *
 * Fastify's `requestTimeout` defaults to 0 (none); the core's `slowBody` check still cuts off a client that
 * trickles a request body (by default one that falls behind 500 bytes a second after a 20 s grace).
 */
export const fastifyProtection: FastifyPluginCallback<FastifyProtectionOptions> = Object.assign(
  (fastify: FastifyInstance, options: FastifyProtectionOptions, done: (error?: Error) => void): void => {
    let protection: ServerProtection;
    try {
      protection =
        'protection' in options && options.protection instanceof ServerProtection
          ? options.protection
          : new ServerProtection(options as ServerProtectionOptions);
    } catch (error) {
      done(error as Error);
      return;
    }
    fastify.decorate('sluice', protection);
    // One hook for the instance, no closure per admitted request.
    fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, next: () => void) => {
      const answer = protection.admit(request.raw, reply.raw, request.routeOptions.url);
      if (answer === undefined) next();
      else if (answer instanceof Promise) {
        void answer.then((a?: Reply | null) => {
          if (a === undefined) next();
          else if (a !== null) send(reply, a);
        });
      } else send(reply, answer);
    });
    fastify.addHook('preClose', (next: () => void) => {
      void protection.close().then(() => next());
    });
    // preClose runs only for an instance that became ready; this stops the timers of any other.
    fastify.addHook('onClose', (_instance: FastifyInstance, next: () => void) => {
      void protection.close();
      next();
    });
    done();
  },
  { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'sluice' },
);

function send(reply: FastifyReply, answer: Reply): void {
  void reply.code(answer.status).headers(answer.headers).send(answer.body);
}
