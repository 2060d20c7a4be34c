// sluice/express: server protection as Express 5 middleware (express is an optional peer dependency).

export { expressProtection, type ProtectionMiddleware } from './http/server/express.ts';
