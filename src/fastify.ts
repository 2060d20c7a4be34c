// sluice/fastify: server protection as a Fastify 5 plugin (fastify is an optional peer dependency).

export { type FastifyProtectionOptions, fastifyProtection } from './http/server/fastify.ts';
