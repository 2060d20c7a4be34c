import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** The real executable in a child process: its output as it comes, and its exit status. */
function sluice(args: readonly string[], cwd: string, nodeArgs: readonly string[] = []) {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, main, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  const waiters: {
    stream: 'stdout' | 'stderr';
    pattern: RegExp;
    from: number;
    resolve: (m: RegExpExecArray) => void;
  }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(out[w.stream].slice(w.from));
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (chunk: string) => {
      out[stream] += chunk;
      check();
    });
  }
  const exit = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    exit,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    /**
     * Resolves once `stream` has printed a match of `pattern` after its first `from` characters (a test's
     * timeout bounds the wait).
     */
    waitFor: (stream: 'stdout' | 'stderr', pattern: RegExp, from = 0) =>
      new Promise<RegExpExecArray>((resolve) => {
        waiters.push({ stream, pattern, from, resolve });
        check();
      }),
  };
}

describe('sluice autoscale', { timeout: 30_000 }, () => {
  let dir: string;
  let base: string;
  /** What the service exports and what the deployment tool was asked. */
  const state = { inflight: 45, desired: 2, scaled: [] as { replicas: number; previous?: number }[] };
  // A stand-in for the service's metrics endpoint and for a deployment tool's webhook.
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/metrics') {
        res.end(`# TYPE app_inflight gauge\napp_inflight ${state.inflight}\n`);
      } else if (req.method === 'GET' && req.url === '/capacity') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ desired: state.desired, ready: state.desired }));
      } else if (req.method === 'POST' && req.url === '/scale') {
        const call = JSON.parse(body) as { replicas: number; previous?: number };
        state.scaled.push(call);
        state.desired = call.replicas;
        res.end('{}');
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });

  /** A config scaling on in-flight requests (a fleet total, `target` per replica) through the webhook. */
  const config = (target: number | string, extra = '') => `
interval: 200ms
max: 10
collectors:
  - { type: prometheus, url: "${base}/metrics", metrics: { inflight: app_inflight } }
policies:
  - { type: target, signal: inflight, per: total, target: ${target} }
actuator: { type: webhook, url: "${base}/scale", capacityUrl: "${base}/capacity" }
${extra}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-autoscale-cli-'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    state.inflight = 45;
    state.desired = 2;
    state.scaled = [];
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('--once --dry-run prints the decision and changes nothing', async () => {
    await writeFile(join(dir, 'scale.yaml'), config(10));
    const run = sluice(['autoscale', 'scale.yaml', '--once', '--dry-run'], dir);
    assert.equal(await run.exit, 0);
    assert.equal(
      run.stdout(),
      '#1 [dry-run] would scale 2→5: target:inflight wants 5 (inflight 45 is 2.25x the target 10 per replica ' +
        'on 2 replicas ready: ceil(45 / 10) = 5)\n',
    );
    assert.deepEqual(state.scaled, []);
  });

  it('--once applies the decided count through the webhook', async () => {
    await writeFile(join(dir, 'scale.yaml'), config(10));
    const run = sluice(['autoscale', 'scale.yaml', '--once'], dir);
    assert.equal(await run.exit, 0);
    assert.match(run.stdout(), /^#1 scale 2→5: target:inflight wants 5 /);
    assert.deepEqual(state.scaled, [{ replicas: 5, previous: 2, actuator: `webhook:${new URL(base).host}` }]);
  });

  it('--json prints the decision records as JSON lines', async () => {
    await writeFile(join(dir, 'scale.yaml'), config(10));
    const run = sluice(['autoscale', 'scale.yaml', '--once', '--json', '--dry-run'], dir);
    assert.equal(await run.exit, 0);
    const lines = run.stdout().trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0]!);
    assert.equal(record.seq, 1);
    assert.equal(record.mode, 'dry-run');
    assert.deepEqual(record.readings, { prometheus: { inflight: 45 } });
    assert.deepEqual(record.capacity, { desired: 2, ready: 2 });
    assert.equal(record.rule, 'target:inflight');
    assert.equal(record.replicas, 5);
    assert.match(record.summary, /^#1 \[dry-run\] would scale 2→5/);
  });

  it('--once exits 1 when a collector failed, after printing the decision', async () => {
    await writeFile(join(dir, 'scale.yaml'), config(10).replace('/metrics', '/nothing'));
    const run = sluice(['autoscale', 'scale.yaml', '--once'], dir);
    assert.equal(await run.exit, 1);
    assert.match(run.stdout(), /^#1 hold at 2: .*1 failed: prometheus \(.*answered 404/);
    assert.deepEqual(state.scaled, []);
  });

  it('reports a bad config with its file, line and path, and exits 1', async () => {
    await writeFile(join(dir, 'bad.yaml'), config('"x"'));
    const run = sluice(['autoscale', 'bad.yaml', '--once'], dir);
    assert.equal(await run.exit, 1);
    assert.match(
      run.stderr(),
      /^sluice: bad\.yaml:7:\d+: option "policies\[0\]\.target" must be a finite number > 0, got "x"\n6 \| /,
    );
    assert.equal(run.stdout(), '');
  });

  it('--check validates the config without running it', async () => {
    await writeFile(join(dir, 'scale.yaml'), config(10));
    const run = sluice(['autoscale', 'scale.yaml', '--check'], dir);
    assert.equal(await run.exit, 0);
    assert.equal(run.stdout(), 'scale.yaml: ok (1 collector, 1 policy, actuator webhook)\n');
    assert.deepEqual(state.scaled, []);
  });

  it('needs a config file (exit 2)', async () => {
    const run = sluice(['autoscale'], dir);
    assert.equal(await run.exit, 2);
    assert.match(run.stderr(), /^sluice autoscale: missing <config>/);
  });

  it('names the package to install when a collector’s client library is missing', async () => {
    await writeFile(
      join(dir, 'queue.yaml'),
      config(10, 'mode: dry-run').replace(
        'collectors:',
        'collectors:\n  - { type: rabbitmq, url: "amqp://127.0.0.1:1", queues: orders }',
      ),
    );
    // The child resolves every package but amqplib, as if it were not installed.
    const hide = `import { registerHooks } from 'node:module';
registerHooks({ resolve(specifier, context, next) {
  if (specifier === 'amqplib') throw Object.assign(new Error("Cannot find package 'amqplib'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
} });`;
    const run = sluice(['autoscale', 'queue.yaml', '--once'], dir, [
      `--import=data:text/javascript,${encodeURIComponent(hide)}`,
    ]);
    assert.equal(await run.exit, 1);
    assert.equal(
      run.stderr(),
      'sluice: collectors[0] (type rabbitmq) needs the package amqplib, which cannot be loaded; ' +
        'install it beside sluice: npm install amqplib\n',
    );
  });

  it('runs until SIGTERM, and reloads the config on SIGHUP, keeping the running one when the new one is bad', async () => {
    const file = join(dir, 'scale.yaml');
    await writeFile(file, config(10));
    const run = sluice(['autoscale', 'scale.yaml'], dir);
    await run.waitFor('stderr', /running "webhook:[^"]+" every 200 ms, mode live; collectors: prometheus/);
    await run.waitFor('stdout', /#1 scale 2→5: /);
    await run.waitFor('stdout', /#2 hold at 5: /);

    await writeFile(file, config(5));
    run.child.kill('SIGHUP');
    await run.waitFor(
      'stderr',
      /reloaded the config \(SIGHUP\); the controller restarted; kept actuator webhook:\S+; collectors prometheus\n/,
    );
    await run.waitFor('stdout', /#1 scale 5→9: target:inflight wants 9 /);

    await writeFile(file, config('nope'));
    run.child.kill('SIGHUP');
    await run.waitFor('stderr', /kept the running autoscaler\n/);
    assert.match(
      run.stderr(),
      /scale\.yaml:7:\d+: option "policies\[0\]\.target" must be a finite number > 0, got "nope"/,
    );
    await run.waitFor('stdout', /#\d+ hold at 9: /, run.stdout().length);

    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 0);
    assert.match(run.stderr(), /SIGTERM: stopping after the tick in flight\nsluice autoscale: stopped\n$/);
    assert.deepEqual(
      state.scaled.map((s) => s.replicas),
      [5, 9],
    );
  });

  it('stops cleanly on SIGINT', async () => {
    await writeFile(join(dir, 'scale.yaml'), config(10, 'mode: dry-run'));
    const run = sluice(['autoscale', 'scale.yaml'], dir);
    await run.waitFor('stdout', /#1 \[dry-run\] would scale/);
    run.child.kill('SIGINT');
    assert.equal(await run.exit, 0);
    assert.match(run.stderr(), /interrupt: stopping after the tick in flight\nsluice autoscale: stopped\n$/);
  });
});
