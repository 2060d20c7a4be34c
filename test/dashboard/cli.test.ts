import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isUsageError } from '../../src/cli/errors.ts';
import { dashboardTarget, takeDashboardFlag } from '../../src/dashboard/cli.ts';
import type { DashboardState } from '../../src/dashboard/index.ts';
import { startCli } from '../helpers/cli.ts';

const start = startCli;

/** Polls the dashboard's state until `ok` holds for it (bounded by the test's timeout). */
async function stateWhere(url: string, ok: (s: DashboardState) => boolean): Promise<DashboardState> {
  for (;;) {
    const s = (await (await fetch(new URL('state', url))).json()) as DashboardState;
    if (ok(s)) return s;
    await delay(50);
  }
}

describe('--dashboard', () => {
  it('takes an optional [host:]port value', () => {
    assert.deepEqual(takeDashboardFlag(['--upstream', 'x', '--dashboard']), {
      args: ['--upstream', 'x'],
      dashboard: '',
    });
    assert.deepEqual(takeDashboardFlag(['--dashboard', '9400', 'a.yaml']), {
      args: ['a.yaml'],
      dashboard: '9400',
    });
    assert.deepEqual(takeDashboardFlag(['--dashboard', 'a.yaml']), { args: ['a.yaml'], dashboard: '' });
    assert.deepEqual(takeDashboardFlag(['--dashboard', '[::1]:9400']), { args: [], dashboard: '[::1]:9400' });
    assert.deepEqual(takeDashboardFlag(['--dashboard=localhost:1']), { args: [], dashboard: 'localhost:1' });
    assert.deepEqual(takeDashboardFlag(['--', '--dashboard']), {
      args: ['--', '--dashboard'],
      dashboard: undefined,
    });
  });

  it('binds loopback unless a token is set in SLUICE_DASHBOARD_TOKEN', () => {
    assert.deepEqual(dashboardTarget('', {}), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(dashboardTarget('9400', {}), { host: '127.0.0.1', port: 9400 });
    assert.deepEqual(dashboardTarget('[::1]:9400', {}), { host: '::1', port: 9400 });
    assert.throws(() => dashboardTarget('0.0.0.0:9400', {}), isUsageError);
    const token = '0123456789abcdef0123';
    assert.deepEqual(dashboardTarget('0.0.0.0:9400', { SLUICE_DASHBOARD_TOKEN: token }), {
      host: '0.0.0.0',
      port: 9400,
      token,
    });
    assert.throws(() => dashboardTarget('x', {}), isUsageError);
    assert.throws(() => dashboardTarget('99999', {}), isUsageError);
  });
});

describe('sluice proxy --dashboard and sluice autoscale --dashboard', { timeout: 20_000 }, () => {
  let dir: string;
  let base: string;
  let desired = 2;
  // An upstream for the proxy; a metrics endpoint and a webhook actuator for the autoscaler.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/metrics') res.end('# TYPE app_inflight gauge\napp_inflight 45\n');
      else if (req.url === '/capacity') res.end(JSON.stringify({ desired, ready: desired }));
      else if (req.url === '/scale') {
        desired = 5;
        res.end('{}');
      } else res.end('upstream');
    });
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-dashboard-cli-'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sluice proxy --dashboard charts the proxy’s limiter', async () => {
    const run = start(['proxy', '--upstream', base, '--listen', '127.0.0.1:0', '--dashboard'], dir);
    const [, url] = await run.waitFor(/sluice proxy: dashboard on (http:\/\/127\.0\.0\.1:\d+\/)\n/);
    const [, port] = await run.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'upstream');
    const state = await stateWhere(url!, (s) => s.times.length > 0);
    assert.deepEqual(
      state.groups.map((g) => [g.kind, g.name]),
      [['limiter', 'proxy']],
    );
    run.stop();
    assert.equal(await run.exit, 0);
    await assert.rejects(fetch(url!));
  });

  it('sluice autoscale --dashboard charts the autoscaler and feeds its decisions', async () => {
    await writeFile(
      join(dir, 'scale.yaml'),
      `interval: 200ms
max: 10
collectors:
  - { type: prometheus, url: "${base}/metrics", metrics: { inflight: app_inflight } }
policies:
  - { type: target, signal: inflight, per: total, target: 10 }
actuator: { type: webhook, url: "${base}/scale", capacityUrl: "${base}/capacity" }
`,
    );
    const run = start(['autoscale', 'scale.yaml', '--dashboard', '0'], dir);
    const [, url] = await run.waitFor(/sluice autoscale: dashboard on (http:\/\/127\.0\.0\.1:\d+\/)\n/);
    const state = await stateWhere(url!, (s) => s.feed.length > 0);
    assert.equal(state.groups[0]!.kind, 'autoscaler');
    assert.equal(state.feed[0]!.kind, 'autoscaler');
    assert.match(state.feed[0]!.text, /^#1 scale 2→5: target:inflight wants 5/);
    run.stop();
    assert.equal(await run.exit, 0);
  });

  it('sluice autoscale refuses --dashboard with --once (exit 2)', async () => {
    const run = start(['autoscale', 'scale.yaml', '--once', '--dashboard'], dir);
    assert.equal(await run.exit, 2);
    assert.match(run.stderr(), /--dashboard goes with a running autoscaler/);
  });
});
