import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Exposition, parseExposition, type Sample } from '../../src/scale/collectors/prometheus-text.ts';

/** A real node:http server on a loopback port; `close()` ends it. */
export async function serve(listener: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A scrape: the raw text and its parse. */
export interface Scrape extends Exposition {
  readonly text: string;
  readonly contentType: string | null;
}

/** Fetches `url` and parses it as the Prometheus text format. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const text = await res.text();
  return { ...parseExposition(text), text, contentType: res.headers.get('content-type') };
}

/** The samples of `name` whose labels include `labels`. */
export function samples(s: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return s.samples.filter(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
}

/** The value of the one sample of `name` with `labels`; fails unless exactly one matches. */
export function value(s: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = samples(s, name, labels);
  assert.equal(found.length, 1, `one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

/** The `# HELP` text of a family. */
export function help(s: Scrape, family: string): string | undefined {
  const line = s.text.split('\n').find((l) => l.startsWith(`# HELP ${family} `));
  return line?.slice(`# HELP ${family} `.length);
}
