import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A fault-injecting TCP proxy for tests: clients connect to `port` and reach `target` through it, until the
 * test cuts, stalls or slows the path. Only loopback addresses.
 *
 *   const proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
 *   const redis = new Redis({ port: proxy.port });
 *   proxy.stall();   // bytes stop flowing both ways; connections stay open (a hung server, a partition)
 *   proxy.restore(); // what was held is delivered, in order
 */
export interface TcpProxy {
  readonly port: number;
  /** Open client connections. */
  readonly connections: number;
  /** Destroys every connection and refuses new ones (closed at once) until `restore()`. */
  cut(): void;
  /** Holds every byte in both directions, on open and new connections, until `restore()`. */
  stall(): void;
  /** Delivers every chunk `ms` late (order kept), until `restore()`. */
  delay(ms: number): void;
  /** Back to a plain pipe; delivers what a stall or a delay held. */
  restore(): void;
  close(): Promise<void>;
}

type Mode = { kind: 'pass' } | { kind: 'cut' } | { kind: 'stall' } | { kind: 'delay'; ms: number };

/** One direction of one connection: chunks wait here while the path is stalled or slowed. */
class Pipe {
  readonly #to: Socket;
  readonly #queue: { chunk: Buffer; due: number }[] = [];
  readonly #mode: () => Mode;
  #timer: NodeJS.Timeout | undefined;

  constructor(from: Socket, to: Socket, mode: () => Mode) {
    this.#to = to;
    this.#mode = mode;
    from.on('data', (chunk: Buffer) => {
      const m = mode();
      this.#queue.push({ chunk, due: performance.now() + (m.kind === 'delay' ? m.ms : 0) });
      this.pump();
    });
  }

  pump(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const m = this.#mode();
    if (m.kind === 'stall' || m.kind === 'cut') return;
    const now = performance.now();
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (m.kind === 'delay' && head.due > now) {
        this.#timer = setTimeout(() => this.pump(), head.due - now);
        return;
      }
      this.#queue.shift();
      if (!this.#to.destroyed) this.#to.write(head.chunk);
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: Mode = { kind: 'pass' };
  const current = (): Mode => mode;
  const open = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();
  const server: Server = createServer((client) => {
    if (mode.kind === 'cut') {
      client.destroy();
      return;
    }
    const upstream = connect(target);
    const entry = {
      client,
      upstream,
      pipes: [new Pipe(client, upstream, current), new Pipe(upstream, client, current)],
    };
    open.add(entry);
    const end = (): void => {
      if (!open.delete(entry)) return;
      for (const p of entry.pipes) p.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp-proxy: no port');
  const pumpAll = (): void => {
    for (const c of open) for (const p of c.pipes) p.pump();
  };
  return {
    port: address.port,
    get connections() {
      return open.size;
    },
    cut() {
      mode = { kind: 'cut' };
      for (const c of [...open]) {
        c.client.destroy();
        c.upstream.destroy();
      }
    },
    stall() {
      mode = { kind: 'stall' };
    },
    delay(ms: number) {
      mode = { kind: 'delay', ms };
    },
    restore() {
      mode = { kind: 'pass' };
      pumpAll();
    },
    close() {
      for (const c of [...open]) {
        c.client.destroy();
        c.upstream.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
