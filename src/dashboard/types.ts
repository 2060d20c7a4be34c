import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.ts';
import type { Tracking } from '../metrics/core.ts';
import type { Trackable } from '../metrics/tracker.ts';

export interface DashboardOptions {
  /** Time source of the sampling, the feed's times and the heartbeats. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Time between two samples of every tracked value (ms). Default 1000. */
  readonly sampleEvery?: number;
  /**
   * Samples kept per series: the charts span `history × sampleEvery` (10 minutes by default). Memory is
   * `8 × history` bytes per charted line, whatever the load. Default 600.
   */
  readonly history?: number;
  /** Heading of the page and its `<title>`. Default `"sluice"`. */
  readonly title?: string;
  /** Most decisions kept in the feed; older ones are dropped. Default 200. */
  readonly feed?: number;
  /**
   * Least time between two feed items about the changes of one limit, rate or batch size (ms); changes
   * within it are summed up in one item at its end, since adaptive limits move every few hundred
   * milliseconds. Breaker transitions, pressure level changes and autoscaler decisions are never
   * coalesced. Default 5000.
   */
  readonly changeInterval?: number;
  /** Most live (server-sent events) clients at once; one more is answered 503. Default 32. */
  readonly maxClients?: number;
  /**
   * Time between two heartbeats (SSE comments) on every live stream, so that proxies keep it open (ms).
   * Default 15000.
   */
  readonly heartbeat?: number;
}

export interface DashboardTrackOptions {
  /** Name the component is shown (and grouped) under. Default the component's own name. */
  readonly name?: string;
  /**
   * Names of the priority levels of a limiter or server protection, most important first, for its
   * rejections. Default the criticality names.
   */
  readonly priorities?: readonly string[];
}

export interface DashboardListenOptions {
  /** Port to listen on; 0 picks a free one. Default 0. */
  readonly port?: number;
  /**
   * Address to bind. Default `"127.0.0.1"`. Any address other than loopback (`127.0.0.0/8`, `::1`,
   * `localhost`) needs a `token`: the dashboard shows the service's internals.
   */
  readonly host?: string;
  /**
   * A secret every request must carry, as `Authorization: Bearer <token>` or `?token=<token>` (the page
   * and its event stream, since a browser's `EventSource` cannot set headers). At least 16 characters,
   * e.g. `randomBytes(16).toString('hex')`. Default none (loopback only).
   */
  readonly token?: string;
}

/** Where a dashboard listens. */
export interface DashboardAddress {
  /** The page's URL, with `?token=` when a token is set: open it in a browser. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The node:http server. */
  readonly server: Server;
  /** Stops listening and ends this server's live streams. Idempotent. */
  close(): Promise<void>;
}

/** How a chart's values read. */
export type ChartFormat =
  /** A count of things (requests, workers, replicas, items). */
  | 'count'
  /** Seconds, shown in ms or s. */
  | 'seconds'
  /** A ratio in [0, 1], shown as a percentage. */
  | 'ratio'
  /** Events per second. */
  | 'rate'
  /** An index into the chart's `states`. */
  | 'state';

export interface LineState {
  readonly id: string;
  readonly label: string;
  /** Oldest first, aligned with `DashboardState.times`; `null` where there was no value. */
  readonly values: readonly (number | null)[];
}

export interface ChartState {
  readonly id: string;
  readonly title: string;
  readonly format: ChartFormat;
  /** Names of the values of a `state` chart, by index. */
  readonly states?: readonly string[];
  /** Whether values hold until the next sample (states, replica counts) rather than vary between them. */
  readonly step: boolean;
  /** The y axis always includes this range (e.g. [0, 1] for a ratio). */
  readonly range?: readonly [number, number];
  readonly lines: readonly LineState[];
}

export interface GroupState {
  readonly id: string;
  /** The kind tracked: `limiter`, `breaker`, `server`, `autoscaler`, ... */
  readonly kind: string;
  readonly name: string;
  readonly charts: readonly ChartState[];
}

/** One decision in the feed. */
export interface FeedItem {
  /** Increases by one per item. */
  readonly seq: number;
  /** Clock time of the decision (ms, on the dashboard's clock). */
  readonly at: number;
  readonly kind: string;
  readonly name: string;
  /** `warn` for what may need attention: a breaker opening, critical pressure, a failed scaling step. */
  readonly level: 'info' | 'warn';
  /** The event: `limit`, `rate`, `size`, `state`, `level`, `decision`, `resize`, `crash`. */
  readonly event: string;
  /** One line: what changed and why. */
  readonly text: string;
}

/** What `/state` serves, and the first message of the live stream. */
export interface DashboardState {
  readonly title: string;
  readonly sampleEvery: number;
  readonly history: number;
  /** Clock time now (ms): the page places `times` and feed items against its own wall clock with it. */
  readonly now: number;
  /** Clock times of the samples held, oldest first. */
  readonly times: readonly number[];
  readonly groups: readonly GroupState[];
  /** Oldest first. */
  readonly feed: readonly FeedItem[];
}

/** One sample of every charted line, as the live stream sends it. */
export interface DashboardSample {
  readonly t: number;
  /** By line id; `null` where there was no value. */
  readonly values: Readonly<Record<string, number | null>>;
}

/** A node:http request handler, mountable under a prefix (Express `app.use('/sluice', handler)`). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Dashboard {
  /**
   * Charts a component from now on, and feeds its decisions: a limiter, breaker, regulator, pressure meter,
   * degrader, server protection, pool, batcher, autoscaler, throttle or retry policy (the kinds
   * `sluice/metrics` tracks). Throws a `ConfigError` for anything else, or for a second component of the
   * same kind under the same name. Returns a handle that removes it.
   */
  track(component: Trackable, options?: DashboardTrackOptions): Tracking;
  /**
   * Serves the page (any path but the two below), `state` (the series and the feed as JSON) and `events`
   * (a live stream: a sample per `sampleEvery`, feed items as they happen). The page finds the other two
   * relative to its own path, so the handler works under any prefix. It checks no token: mounted in an
   * application, the application's own authentication applies.
   */
  readonly handler: DashboardHandler;
  /** Serves `handler` on its own node:http server; see `DashboardListenOptions`. */
  listen(options?: DashboardListenOptions): Promise<DashboardAddress>;
  /** The series and the feed now (what `/state` serves). */
  state(): DashboardState;
  /** Stops sampling and tracking, ends every live stream, closes the servers `listen` started. Idempotent. */
  close(): Promise<void>;
}
