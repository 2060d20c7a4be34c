import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import { integer, nonNegative, or, positive } from '../core/validate.ts';
import type { Tracking } from '../metrics/core.ts';
import { kindOf } from '../metrics/kinds.ts';
import type { LogSource } from '../metrics/log.ts';
import type { PriorityTrackOptions, Trackable, Tracker } from '../metrics/tracker.ts';
import { DashboardClosedError } from './errors.ts';
import { Feed } from './feed.ts';
import { contentSecurityPolicy, renderPage } from './page.ts';
import { Sampler } from './sampler.ts';
import { serve } from './serve.ts';
import { frame, Streams } from './stream.ts';
import type {
  Dashboard,
  DashboardAddress,
  DashboardHandler,
  DashboardListenOptions,
  DashboardOptions,
  DashboardState,
  DashboardTrackOptions,
} from './types.ts';

/**
 * A live dashboard: every tracked component's values sampled into fixed rings (`history` samples each),
 * its decisions in a bounded feed, both served as one self-contained page with a live event stream.
 *
 * ```ts
 * const dashboard = createDashboard({ title: 'checkout' });
 * dashboard.track(limiter);
 * dashboard.track(breaker, { name: 'payments' });
 * const { url } = await dashboard.listen({ port: 9400 });  // http://127.0.0.1:9400/
 * ```
 *
 * It reads components through the trackers of `sluice/metrics`, the same ones behind the Prometheus and
 * OpenTelemetry exporters, so the three always show the same values; and it describes decisions with the
 * decision logs' words.
 */
export function createDashboard(options: DashboardOptions = {}): Dashboard {
  return new LiveDashboard(options);
}

class LiveDashboard implements Dashboard {
  readonly handler: DashboardHandler;
  readonly #clock: Clock;
  readonly #sampleEvery: number;
  readonly #title: string;
  readonly #sampler: Sampler;
  readonly #tracker: Tracker;
  readonly #feed: Feed;
  readonly #streams: Streams;
  readonly #trackings = new Set<Tracking>();
  readonly #servers = new Set<DashboardAddress>();
  #timer: Timer | undefined;
  #nextAt: number;
  #closing: Promise<void> | undefined;

  constructor(options: DashboardOptions) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('options', options, 'an object');
    this.#clock = or(options.clock, systemClock);
    this.#sampleEvery = positive('sampleEvery', or(options.sampleEvery, 1000));
    const history = integer('history', or(options.history, 600), 2, 100_000);
    const title = or(options.title, 'sluice');
    if (typeof title !== 'string') throw new ConfigError('title', title, 'a string');
    this.#title = title;
    const feed = integer('feed', or(options.feed, 200), 1, 100_000);
    const changeInterval = nonNegative('changeInterval', or(options.changeInterval, 5000));
    const maxClients = integer('maxClients', or(options.maxClients, 32), 1);
    const heartbeat = positive('heartbeat', or(options.heartbeat, 15_000));
    this.#sampler = new Sampler(history);
    this.#tracker = this.#sampler.tracker;
    this.#streams = new Streams(this.#clock, maxClients, heartbeat);
    this.#feed = new Feed(this.#clock, feed, changeInterval, (item) =>
      this.#streams.broadcast(frame('feed', item)),
    );
    this.handler = (req, res) => this.#handle(req, res);
    this.#nextAt = this.#clock.now() + this.#sampleEvery;
    this.#schedule();
  }

  track(component: Trackable, options: DashboardTrackOptions = {}): Tracking {
    if (this.#closing !== undefined) throw new DashboardClosedError('track');
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('options', options, 'an object { name?, priorities? }');
    const trackOptions: PriorityTrackOptions = {
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.priorities === undefined ? {} : { priorities: options.priorities }),
    };
    // Throws a ConfigError for what is not a component, and for a name already tracked for the kind.
    const metrics = this.#tracker.track(component, trackOptions);
    const kind = kindOf(component)!;
    const name =
      options.name ??
      (kind === 'server'
        ? (component as { limiter: { name: string } }).limiter.name
        : (component as { name: string }).name);
    let decisions: Tracking | undefined;
    try {
      decisions = this.#feed.follow(component as LogSource, kind, name);
    } catch (error) {
      metrics.stop();
      throw error;
    }
    const group = this.#sampler.addGroup(kind, name, this.#clock.now());
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.#trackings.delete(tracking);
      metrics.stop();
      decisions?.stop();
      this.#sampler.removeGroup(group);
    };
    const tracking: Tracking = { stop, [Symbol.dispose]: stop };
    this.#trackings.add(tracking);
    return tracking;
  }

  async listen(options: DashboardListenOptions = {}): Promise<DashboardAddress> {
    if (this.#closing !== undefined) throw new DashboardClosedError('listen');
    const address = await serve(this.handler, options, () => this.#servers.delete(address));
    this.#servers.add(address);
    return address;
  }

  state(): DashboardState {
    return {
      title: this.#title,
      sampleEvery: this.#sampleEvery,
      history: this.#sampler.history.capacity,
      now: this.#clock.now(),
      times: this.#sampler.history.times(),
      groups: this.#sampler.groups(),
      feed: this.#feed.items(),
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#timer?.cancel();
      this.#timer = undefined;
      for (const t of [...this.#trackings]) t.stop();
      this.#tracker.close();
      this.#streams.close();
      await Promise.all([...this.#servers].map((s) => s.close()));
    })();
    return this.#closing;
  }

  /** Samples on a fixed cadence; after a stall (a blocked event loop) it skips the samples missed. */
  #schedule(): void {
    const now = this.#clock.now();
    if (this.#nextAt < now) this.#nextAt = now;
    this.#timer = this.#clock.setTimer(
      () => {
        this.#sample();
        this.#nextAt += this.#sampleEvery;
        this.#schedule();
      },
      this.#nextAt - now,
      { ref: false },
    );
  }

  #sample(): void {
    const { sample, layoutChanged } = this.#sampler.sample(this.#clock.now());
    if (this.#streams.size === 0) return;
    // New lines (a component tracked, a new rejection reason): the pages redraw from the whole state.
    this.#streams.broadcast(layoutChanged ? frame('state', this.state()) : frame('sample', sample));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('sluice: the dashboard is read with GET\n');
      return;
    }
    if (this.#closing !== undefined) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('sluice: the dashboard is closed\n');
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0]!;
    // Routed by the last segment, so that the handler works under any prefix an application mounts it at.
    const last = path.slice(path.lastIndexOf('/') + 1);
    const head = req.method === 'HEAD';
    if (last === 'events') {
      if (head) {
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
        });
        res.end();
      } else this.#streams.open(req, res, frame('state', this.state()));
      return;
    }
    if (last === 'state') {
      const body = JSON.stringify(this.state());
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(head ? undefined : body);
      return;
    }
    const nonce = randomBytes(16).toString('base64');
    const body = renderPage(this.#title, nonce);
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'content-security-policy': contentSecurityPolicy(nonce),
      // The page's URL may hold the token.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
    res.end(head ? undefined : body);
  }
}
