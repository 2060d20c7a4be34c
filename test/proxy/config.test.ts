import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadProxyConfig, parseProxyConfig, resolveProxyOptions } from '../../src/proxy/config.ts';

describe('proxy config', () => {
  it('reads a YAML file into proxy options', () => {
    const options = parseProxyConfig(
      [
        'listen: 0.0.0.0:9000',
        'upstream: http://127.0.0.1:3000',
        'limit: 40',
        'queue: { size: 10, timeout: 500 }',
        'routes:',
        '  - { path: /health, priority: critical }',
        '  - { path: /api/**, methods: [POST], priority: high }',
      ].join('\n'),
    );
    const s = resolveProxyOptions(options);
    assert.equal(s.host, '0.0.0.0');
    assert.equal(s.port, 9000);
    assert.equal(s.limit, 40);
    assert.deepEqual(s.queue, { size: 10, timeout: 500 });
    assert.equal(s.routes.level('POST', '/api/x'), 1);
    assert.equal(s.upstream.origin, 'http://127.0.0.1:3000');
  });

  it('reads JSON too, and leaves the upstream to the command line', () => {
    const options = parseProxyConfig('{ "listen": 8081, "routes": [] }', 'proxy.json');
    assert.deepEqual(options, { port: 8081, routes: [] });
  });

  it('names the file, line and path of a bad value', () => {
    const text = ['upstream: http://127.0.0.1:3000', 'routes:', '  - path: /a', '    priority: urgent'].join(
      '\n',
    );
    assert.throws(
      () => parseProxyConfig(text, 'proxy.yaml'),
      (error: Error & Record<string, unknown>) => {
        assert.equal(error['path'], 'routes[0].priority');
        assert.equal(error['line'], 4);
        assert.match(error.message, /^sluice: proxy\.yaml:4:15: option "routes\[0\]\.priority" must be/);
        return true;
      },
    );
  });

  it('points an unknown option at its key', () => {
    const text = 'upstream: http://127.0.0.1:3000\nqueue:\n  size: 5\n  timout: 100\n';
    assert.throws(() => parseProxyConfig(text, 'p.yaml'), {
      path: 'queue.timout',
      line: 4,
      message: 'sluice: p.yaml:4:3: unknown option "queue.timout" (known: size, timeout)',
    });
  });

  it('locates a bad listen address and a bad upstream', () => {
    assert.throws(() => parseProxyConfig('upstream: http://h\nlisten: nowhere\n', 'p.yaml'), {
      path: 'listen',
      line: 2,
    });
    assert.throws(() => parseProxyConfig('listen: 99999\n', 'p.yaml'), { path: 'listen', line: 1 });
    assert.throws(() => parseProxyConfig('\nupstream: ftp://x\n', 'p.yaml'), { path: 'upstream', line: 2 });
  });

  it('reports a YAML syntax error with its line', () => {
    assert.throws(() => parseProxyConfig('upstream: http://x\nroutes: [\n', 'p.yaml'), {
      code: 'SLUICE_PROXY_CONFIG',
      path: null,
      line: 3,
    });
  });

  it('reports a missing file', async () => {
    await assert.rejects(loadProxyConfig('/nonexistent/proxy.yaml', 'proxy.yaml'), {
      message: 'sluice: proxy.yaml: cannot read the proxy config (no such file)',
    });
  });

  it('rejects invalid options naming the option', () => {
    assert.throws(() => resolveProxyOptions({}), { option: 'upstream' });
    assert.throws(() => resolveProxyOptions({ upstream: 'http://h/path' }), { option: 'upstream' });
    assert.throws(() => resolveProxyOptions({ upstream: 'http://h', limit: 0 }), { option: 'limit' });
    assert.throws(() => resolveProxyOptions({ upstream: 'http://h', drainTimeout: -1 }), {
      option: 'drainTimeout',
    });
    assert.throws(() => resolveProxyOptions({ upstream: 'http://h', deadlineHeader: 'a b' }), {
      option: 'deadlineHeader',
    });
  });
});
