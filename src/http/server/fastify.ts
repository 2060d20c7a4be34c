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
 * guards every route of the instance it is registered on. The core stops its timers on `onClose`.
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
    fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, next: () => void) => {
      protection.handle(request.raw, reply.raw, request.routeOptions.url, (answer?: Reply) => {
        if (answer === undefined) next();
        else reply.code(answer.status).headers(answer.headers).send(answer.body);
      });
    });
    fastify.addHook('onClose', (_instance: FastifyInstance, next: () => void) => {
      protection.close();
      next();
    });
    done();
  },
  { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'sluice' },
);
