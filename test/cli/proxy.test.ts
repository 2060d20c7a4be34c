import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { routeFlag } from '../../src/cli/proxy.ts';
import { startCli } from '../helpers/cli.ts';

const start = (args: readonly string[], cwd: string) => startCli(['proxy', ...args], cwd);

describe('sluice proxy', () => {
  let dir: string;
  let upstreamUrl: string;
  const upstream = createServer((req, res) => res.end(`upstream ${req.url}`));
  const agent = new Agent();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-proxy-'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  });
  after(async () => {
    await agent.close();
    upstream.closeAllConnections();
    upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('needs an upstream', async () => {
    const run = start([], dir);
    assert.equal(await run.exit, 2);
    assert.match(run.stderr(), /missing --upstream/);
  });

  it('reports a bad config file with its line and exits 1', async () => {
    await writeFile(
      join(dir, 'bad.yaml'),
      `upstream: ${upstreamUrl}\nroutes:\n  - { path: /a, priority: urgent }\n`,
    );
    const run = start(['--config', 'bad.yaml'], dir);
    assert.equal(await run.exit, 1);
    assert.match(run.stderr(), /^sluice: bad\.yaml:3:\d+: option "routes\[0\]\.priority"/);
  });

  it('proxies, reloads the config on SIGHUP and on a file change, and drains when stopped', async () => {
    const file = join(dir, 'proxy.yaml');
    await writeFile(file, `upstream: ${upstreamUrl}\nroutes: [{ path: /a, priority: high }]\n`);
    const run = start(['--config', 'proxy.yaml', '--listen', '127.0.0.1:0', '--limit', '8', '--watch'], dir);
    const [, port] = await run.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    const r = await request(`http://127.0.0.1:${port}/hello`, { dispatcher: agent });
    assert.equal(await r.body.text(), 'upstream /hello');

    process.emit('SIGHUP');
    await run.waitFor(/reloaded the config \(SIGHUP\)/);
    await writeFile(file, `upstream: ${upstreamUrl}\nroutes: [{ path: /b, priority: nope }]\n`);
    await run.waitFor(/kept the previous config/);
    assert.match(run.stderr(), /proxy\.yaml:2:\d+: option "routes\[0\]\.priority"/);

    run.stop();
    assert.equal(await run.exit, 0);
    assert.match(run.stderr(), /interrupt: draining 0 request\(s\)\nsluice proxy: stopped\n$/);
  });

  it('reads routes from --route', () => {
    assert.deepEqual(routeFlag('/health=critical'), { path: '/health', priority: 'critical' });
    assert.deepEqual(routeFlag('POST,PUT /api/**=high'), {
      path: '/api/**',
      methods: ['POST', 'PUT'],
      priority: 'high',
    });
    assert.throws(() => routeFlag('health'), { code: 'SLUICE_USAGE' });
  });
});
