import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Timer } from '../core/clock.ts';

/**
 * Bytes a client may leave unread before it is dropped: a stalled browser tab must not make the server
 * buffer samples without end. About a minute of samples for a busy page.
 */
const MAX_UNREAD = 1 << 20;

/**
 * The live clients of the event stream (server-sent events). Each gets the whole state first, then every
 * message broadcast; a comment line every `heartbeat` keeps idle proxies from closing the stream. A client
 * is forgotten as soon as its connection closes; past `max` clients, a new one is refused.
 */
export class Streams {
  readonly #clients = new Set<ServerResponse>();
  readonly #clock: Clock;
  readonly #max: number;
  readonly #heartbeat: number;
  #timer: Timer | undefined;

  constructor(clock: Clock, max: number, heartbeat: number) {
    this.#clock = clock;
    this.#max = max;
    this.#heartbeat = heartbeat;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Opens a stream on `res` that starts with `first` (a framed message); false when full. */
  open(req: IncomingMessage, res: ServerResponse, first: string): boolean {
    if (this.#clients.size >= this.#max) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' });
      res.end(`sluice: too many live dashboard clients (at most ${this.#max})\n`);
      return false;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Reverse proxies (nginx) otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    // `retry`: how long a browser waits before reconnecting after the stream drops.
    res.write(`retry: 2000\n\n${first}`);
    this.#clients.add(res);
    const forget = (): void => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopHeartbeat();
    };
    res.once('close', forget);
    res.once('error', forget);
    this.#startHeartbeat();
    return true;
  }

  /** Sends one framed message to every client. */
  broadcast(message: string): void {
    for (const res of this.#clients) this.#write(res, message);
  }

  /** Ends every stream. */
  close(): void {
    for (const res of [...this.#clients]) res.end();
    this.#clients.clear();
    this.#stopHeartbeat();
  }

  #write(res: ServerResponse, message: string): void {
    if (res.writableLength > MAX_UNREAD) {
      this.#clients.delete(res);
      res.destroy();
      return;
    }
    res.write(message);
  }

  #startHeartbeat(): void {
    if (this.#timer !== undefined) return;
    const beat = (): void => {
      this.broadcast(': heartbeat\n\n');
      this.#timer =
        this.#clients.size > 0 ? this.#clock.setTimer(beat, this.#heartbeat, { ref: false }) : undefined;
    };
    this.#timer = this.#clock.setTimer(beat, this.#heartbeat, { ref: false });
  }

  #stopHeartbeat(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/** One server-sent event: `event` names it, `data` is sent as one line of JSON. */
export function frame(event: string, data: unknown): string {
  // JSON.stringify never emits a raw line break, so one `data:` line holds it all.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
