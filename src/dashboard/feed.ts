import type { Clock } from '../core/clock.ts';
import type { Tracking } from '../metrics/core.ts';
import type { ComponentKind } from '../metrics/kinds.ts';
import { type DecisionLogger, type LogSource, logDecisions } from '../metrics/log.ts';
import { Ring } from './ring.ts';
import type { FeedItem } from './types.ts';

/** The kinds whose decisions `logDecisions` describes (throttles and retry policies decide nothing to show). */
const LOGGED: ReadonlySet<ComponentKind> = new Set([
  'autoscaler',
  'breaker',
  'limiter',
  'server',
  'regulator',
  'batcher',
  'pool',
  'degrader',
  'pressure',
]);

/** `limiter "api" ` at the start of a decision log message: the feed names the component itself. */
const SUBJECT = /^[a-z]+ "(?:[^"\\]|\\.)*" /;

/**
 * The last decisions of the tracked components, with their reasons. The one-line descriptions are those of
 * the decision logs (`logDecisions` of `sluice/metrics`), so the feed, the logs and the metrics tell one
 * story; the feed is a logger for them that keeps the last `capacity` lines.
 */
export class Feed {
  readonly #ring: Ring<FeedItem>;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #onItem: (item: FeedItem) => void;
  #seq = 0;

  constructor(clock: Clock, capacity: number, interval: number, onItem: (item: FeedItem) => void) {
    this.#clock = clock;
    this.#ring = new Ring(capacity);
    this.#interval = interval;
    this.#onItem = onItem;
  }

  /** Feeds the decisions of `source`, shown as `kind` `name`; undefined for a kind without decisions. */
  follow(source: LogSource, kind: ComponentKind, name: string): Tracking | undefined {
    if (!LOGGED.has(kind)) return undefined;
    const push = (level: 'info' | 'warn', record: object, message: string | undefined): void => {
      const event = (record as { event?: unknown }).event;
      this.push({
        kind,
        name,
        level,
        event: typeof event === 'string' ? event : 'decision',
        text: (message ?? '').replace(SUBJECT, ''),
      });
    };
    const logger: DecisionLogger = {
      info: (record, message) => push('info', record, message),
      warn: (record, message) => push('warn', record, message),
    };
    return logDecisions(source, logger, { clock: this.#clock, interval: this.#interval });
  }

  push(item: Omit<FeedItem, 'seq' | 'at'>): void {
    const full: FeedItem = { seq: this.#seq++, at: this.#clock.now(), ...item };
    this.#ring.push(full);
    this.#onItem(full);
  }

  /** Oldest first. */
  items(): FeedItem[] {
    return this.#ring.toArray();
  }
}
