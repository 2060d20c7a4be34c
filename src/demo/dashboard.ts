import type { Clock } from '../core/clock.ts';
import { createDashboard } from '../dashboard/index.ts';
import type { Trackable } from '../metrics/tracker.ts';

/**
 * The demo's one integration point with the live dashboard (src/dashboard): everything the demo shows
 * there goes through `openDashboard` and `DemoDashboard.track`.
 */
export interface DemoDashboard {
  /** The page's URL. */
  readonly url: string;
  /** Charts `component` (a server protection, breaker, pool or autoscaler) under `name` until `close()`. */
  track(component: Trackable, name: string): void;
  close(): Promise<void>;
}

export interface OpenDashboardOptions {
  readonly clock: Clock;
  /** 0 picks a free port. */
  readonly port: number;
  /** Default `"127.0.0.1"`: the dashboard shows internals, so it stays on loopback. */
  readonly host?: string;
}

/**
 * Starts the dashboard on `host:port`. It samples twice a second, so that a run of under a minute draws
 * readable lines, and feeds the limit, breaker and scaling decisions as they happen.
 */
export async function openDashboard(options: OpenDashboardOptions): Promise<DemoDashboard> {
  const dashboard = createDashboard({ clock: options.clock, sampleEvery: 500, title: 'sluice demo' });
  let url: string;
  try {
    url = (await dashboard.listen({ port: options.port, host: options.host ?? '127.0.0.1' })).url;
  } catch (error) {
    await dashboard.close();
    throw error;
  }
  return {
    url,
    track(component: Trackable, name: string): void {
      dashboard.track(component, { name });
    },
    close: () => dashboard.close(),
  };
}
