// sluice/dashboard: a live dashboard of the tracked components' values and decisions, served as one
// self-contained page (no CDN) with server-sent events; loopback by default, a token when exposed.

export { createDashboard } from './dashboard.ts';
export { DashboardClosedError, isDashboardClosedError } from './errors.ts';
export { isLoopback } from './serve.ts';
export type {
  ChartFormat,
  ChartState,
  Dashboard,
  DashboardAddress,
  DashboardHandler,
  DashboardListenOptions,
  DashboardOptions,
  DashboardSample,
  DashboardState,
  DashboardTrackOptions,
  FeedItem,
  GroupState,
  LineState,
} from './types.ts';
