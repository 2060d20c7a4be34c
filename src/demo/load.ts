import { Agent, request } from 'undici';
import type { Clock, Timer } from '../core/clock.ts';

/**
 * The demo's clients: open-loop load. Each request is sent at its planned time whether or not earlier ones
 * were answered (as independent users do), carries its patience in `x-request-timeout`, and is given up
 * after that long. The total is the plan's arrival count, so the load is bounded, and so is what is in
 * flight: at most the arrivals of one timeout.
 */

/**
 * How a request ended: `success` (200), `shed` (a fast refusal by the gateway, 503 or 429), `timeout`
 * (the client gave up, or the gateway answered 504 at the deadline) or `error` (anything else, the
 * downstream's own refusals included).
 */
export type OutcomeKind = 'success' | 'shed' | 'timeout' | 'error';

export interface Outcome {
  /** Planned send time (ms from the start of the run). */
  readonly at: number;
  /** When the answer (or the give-up) came (ms from the start of the run). */
  readonly end: number;
  /** Time from sending to the answer (ms). */
  readonly latency: number;
  readonly kind: OutcomeKind;
}

export interface LoadOptions {
  readonly url: string;
  /** Send times (ms from the start), ascending. */
  readonly arrivals: ArrayLike<number>;
  /** Clients give up after this long (ms). */
  readonly timeout: number;
  readonly clock: Clock;
  /** Stops sending (requests in flight still finish). */
  readonly signal?: AbortSignal;
  /** Called for each request as it ends. */
  readonly onOutcome?: (outcome: Outcome) => void;
}

/** Sends the load and resolves, once every request has ended, with the outcomes in order of ending. */
export async function sendLoad(options: LoadOptions): Promise<Outcome[]> {
  const { url, arrivals, timeout, clock, signal } = options;
  // Enough connections that the client never queues a request itself.
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: null });
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  const start = clock.now();
  const headers = { 'x-request-timeout': String(Math.round(timeout)) };

  const send = (at: number): void => {
    const sent = clock.now();
    const abort = new AbortController();
    let kind: OutcomeKind | undefined;
    const timer = clock.setTimer(() => {
      kind ??= 'timeout';
      abort.abort();
    }, timeout);
    const call = request(url, { dispatcher: agent, headers, signal: abort.signal })
      .then(async (response) => {
        await response.body.text();
        kind ??= kindOf(response.statusCode, response.headers['x-downstream']);
      })
      .catch(() => {
        kind ??= 'error';
      })
      .then(() => {
        timer.cancel();
        const now = clock.now();
        const outcome: Outcome = { at, end: now - start, latency: now - sent, kind: kind ?? 'error' };
        outcomes.push(outcome);
        options.onOutcome?.(outcome);
        pending.delete(call);
      });
    pending.add(call);
  };

  await new Promise<void>((resolve) => {
    let next = 0;
    let timer: Timer | undefined;
    const stop = (): void => {
      timer?.cancel();
      resolve();
    };
    const tick = (): void => {
      const now = clock.now() - start;
      while (next < arrivals.length && arrivals[next]! <= now) send(arrivals[next++]!);
      if (next >= arrivals.length) {
        signal?.removeEventListener('abort', stop);
        resolve();
      } else timer = clock.setTimer(tick, arrivals[next]! - (clock.now() - start));
    };
    if (signal?.aborted === true) return resolve();
    signal?.addEventListener('abort', stop, { once: true });
    tick();
  });
  while (pending.size > 0) await Promise.all(pending);
  await agent.destroy();
  return outcomes;
}

function kindOf(status: number, mark: string | string[] | undefined): OutcomeKind {
  if (status === 200) return 'success';
  if (status === 504) return 'timeout';
  if ((status === 503 || status === 429) && mark === undefined) return 'shed';
  return 'error';
}
