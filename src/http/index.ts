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
