// sluice/http: HTTP integrations. The guarded fetch needs nothing beyond Node's global fetch.

export {
  createFetch,
  type FetchGuard,
  fetchOutcome,
  type GuardedFetch,
  type GuardedFetchOptions,
  type GuardedRequestInit,
  HttpStatusError,
  isHttpStatusError,
  type SluiceRequestOptions,
} from './fetch.ts';
export {
  type Admit,
  byHeader,
  byMethod,
  byRoute,
  type Classification,
  type Classifier,
  createServerProtection,
  type DrainResult,
  type Reply,
  type RequestInfo,
  type RouteSnapshot,
  ServerProtection,
  type ServerProtectionOptions,
  type ServerSnapshot,
  sendReply,
} from './server/core.ts';
export { type ProtectedListener, protect } from './server/node.ts';
