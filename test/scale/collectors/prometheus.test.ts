import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { isCollectorError } from '../../../src/scale/collectors/errors.ts';
import { prometheusCollector, promqlCollector } from '../../../src/scale/collectors/prometheus.ts';

const never = new AbortController().signal;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A local HTTP server answering with `handler`; records every request. */
async function standIn(handler: (req: Seen, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      for (const wake of waiters.splice(0)) wake();
      handler(s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    /** Resolves once the server has read the next request. */
    nextRequest: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a Node service instrumented with prom-client exposes, with values the test moves. */
const app = {
  requests200: 1000,
  requests500: 10,
  queueDepth: 7,
  inflight: 3,
  latencyCount: 1010,
  latencySum: 42.5,
};

function metricsPage(): string {
  return `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.34
# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.
# TYPE nodejs_eventloop_lag_p99_seconds gauge
nodejs_eventloop_lag_p99_seconds 0.012
# HELP http_requests_total Requests served, by method, route and status.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/orders",code="200"} ${app.requests200}
http_requests_total{method="GET",route="/health",code="200"} 500
http_requests_total{method="POST",route="/orders",code="500"} ${app.requests500}
# HELP http_request_duration_seconds Request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05",route="/orders"} 800
http_request_duration_seconds_bucket{le="0.1",route="/orders"} 990
http_request_duration_seconds_bucket{le="+Inf",route="/orders"} ${app.latencyCount}
http_request_duration_seconds_sum{route="/orders"} ${app.latencySum}
http_request_duration_seconds_count{route="/orders"} ${app.latencyCount}
# HELP rpc_duration_seconds RPC duration.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 0.01
rpc_duration_seconds{quantile="0.99"} 0.2
rpc_duration_seconds_sum 9.5
rpc_duration_seconds_count 400
# HELP jobs_queue_depth Jobs waiting, by queue.
# TYPE jobs_queue_depth gauge
jobs_queue_depth{queue="email"} ${app.queueDepth}
jobs_queue_depth{queue="thumbnails"} 5
jobs_queue_depth{queue="label \\"quoted\\""} 1
# HELP http_inflight_requests Requests in flight.
# TYPE http_inflight_requests gauge
http_inflight_requests ${app.inflight}
`;
}

describe('prometheusCollector', () => {
  let server: Awaited<ReturnType<typeof standIn>>;
  let status = 200;
  before(async () => {
    server = await standIn((req, res) => {
      if (req.url === '/hang') return; // never answers
      if (req.url === '/broken') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('ok 1\nbroken{a="1" 2\n');
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(status === 200 ? metricsPage() : 'upstream unavailable');
    });
  });
  after(() => server.close());

  it('picks series by name and labels, sums them, and turns counters into rates between scrapes', async () => {
    const clock = new VirtualClock();
    app.requests200 = 1000;
    app.requests500 = 10;
    app.queueDepth = 7;
    const collector = prometheusCollector({
      url: `${server.url}/metrics`,
      clock,
      metrics: {
        rps: 'http_requests_total{route="/orders"}',
        errors: 'http_requests_total{code=~"5.."}',
        depth: 'jobs_queue_depth{queue!="thumbnails"}',
        inflight: 'http_inflight_requests',
      },
    });
    assert.equal(collector.name, 'prometheus');
    const first = await collector.collect(never);
    assert.deepEqual(first, { depth: 8, inflight: 3 }, 'rates need two scrapes');
    app.requests200 += 450;
    app.requests500 += 50;
    app.queueDepth = 20;
    clock.advance(10_000);
    const second = await collector.collect(never);
    assert.deepEqual(second, { rps: 50, errors: 5, depth: 21, inflight: 3 });
    assert.match(String(server.seen.at(-1)!.headers.accept), /text\/plain;version=0\.0\.4/);
  });

  it('reads a counter that went down as reset, counting from zero', async () => {
    const clock = new VirtualClock();
    app.requests500 = 100;
    const collector = prometheusCollector({
      url: `${server.url}/metrics`,
      clock,
      metrics: { errors: 'http_requests_total{code="500"}' },
    });
    await collector.collect(never);
    app.requests500 = 20; // the process restarted and served 20 since
    clock.advance(5000);
    assert.deepEqual(await collector.collect(never), { errors: 4 });
  });

  it('aggregates with avg, max, min, or exactly one series', async () => {
    app.queueDepth = 7;
    const collector = prometheusCollector({
      url: `${server.url}/metrics`,
      metrics: {
        avg: { series: 'jobs_queue_depth', aggregate: 'avg' },
        max: { series: 'jobs_queue_depth', aggregate: 'max' },
        min: { series: 'jobs_queue_depth', aggregate: 'min' },
        email: { series: 'jobs_queue_depth{queue="email"}', aggregate: 'single' },
        quoted: { series: 'jobs_queue_depth{queue="label \\"quoted\\""}', aggregate: 'single' },
        cpuRaw: { series: 'process_cpu_seconds_total', rate: false },
      },
    });
    assert.deepEqual(await collector.collect(never), {
      avg: 13 / 3,
      max: 7,
      min: 1,
      email: 7,
      quoted: 1,
      cpuRaw: 12.34,
    });
  });

  it('fails a single pick that matches several series, naming them', async () => {
    const collector = prometheusCollector({
      url: `${server.url}/metrics`,
      metrics: { depth: { series: 'jobs_queue_depth', aggregate: 'single' } },
    });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.match(
        e.message,
        /jobs_queue_depth \(reading "depth"\) must match one series, matched 3: jobs_queue_depth\{queue="email"\}/,
      );
      return true;
    });
  });

  it('reads an absent series as the absent value, or fails with absent: "error"', async () => {
    const lenient = prometheusCollector({
      url: `${server.url}/metrics`,
      metrics: { dlq: 'jobs_queue_depth{queue="dlq"}' },
    });
    assert.deepEqual(await lenient.collect(never), { dlq: 0 });
    const other = prometheusCollector({
      url: `${server.url}/metrics`,
      absent: -1,
      metrics: { dlq: 'missing_metric' },
    });
    assert.deepEqual(await other.collect(never), { dlq: -1 });
    const strict = prometheusCollector({
      url: `${server.url}/metrics`,
      absent: 'error',
      metrics: { dlq: 'missing_metric' },
    });
    await assert.rejects(
      strict.collect(never),
      (e: unknown) =>
        isCollectorError(e) && /no series matches missing_metric \(reading "dlq"\)/.test(e.message),
    );
  });

  it('without metrics, reads every sample name: gauges as they are, counters as rates, no buckets or quantiles', async () => {
    const clock = new VirtualClock();
    app.latencyCount = 1010;
    app.latencySum = 42.5;
    const collector = prometheusCollector({ url: `${server.url}/metrics`, clock });
    const first = await collector.collect(never);
    assert.equal(first['nodejs_eventloop_lag_p99_seconds'], 0.012);
    assert.equal(first['jobs_queue_depth'], 13);
    assert.equal('http_requests_total' in first, false);
    app.latencyCount += 200;
    app.latencySum += 10;
    clock.advance(2000);
    const second = await collector.collect(never);
    assert.equal(second['http_request_duration_seconds_count'], 100);
    assert.equal(second['http_request_duration_seconds_sum'], 5);
    assert.equal(second['process_cpu_seconds_total'], 0);
    assert.equal(second['rpc_duration_seconds_count'], 0);
    for (const name of Object.keys(second)) {
      assert.ok(!name.endsWith('_bucket') && name !== 'rpc_duration_seconds', name);
    }
  });

  it('sends the configured headers', async () => {
    const collector = prometheusCollector({
      url: `${server.url}/metrics`,
      headers: { authorization: 'Bearer s3cret' },
      metrics: { inflight: 'http_inflight_requests' },
    });
    await collector.collect(never);
    assert.equal(server.seen.at(-1)!.headers.authorization, 'Bearer s3cret');
  });

  it('fails with the status and the body of an error answer', async () => {
    status = 503;
    try {
      const collector = prometheusCollector({ url: `${server.url}/metrics` });
      await assert.rejects(collector.collect(never), (e: unknown) => {
        assert.ok(isCollectorError(e));
        assert.match(
          e.message,
          /GET http:\/\/127\.0\.0\.1:\d+\/metrics: 127\.0\.0\.1:\d+ answered 503 Service Unavailable: upstream unavailable/,
        );
        return true;
      });
    } finally {
      status = 200;
    }
  });

  it('fails on a malformed page, naming the line', async () => {
    const collector = prometheusCollector({ url: `${server.url}/broken` });
    await assert.rejects(
      collector.collect(never),
      (e: unknown) => isCollectorError(e) && /malformed metrics: line 2: /.test(e.message),
    );
  });

  it('fails on an unreachable endpoint with the reason', async () => {
    const closed = await standIn(() => {});
    await closed.close();
    const collector = prometheusCollector({ url: `${closed.url}/metrics` });
    await assert.rejects(
      collector.collect(never),
      (e: unknown) => isCollectorError(e) && /ECONNREFUSED/.test(e.message),
    );
  });

  it('rejects with the abort reason when the collect is aborted', async () => {
    const collector = prometheusCollector({ url: `${server.url}/hang` });
    const controller = new AbortController();
    const received = server.nextRequest();
    const pending = collector.collect(controller.signal);
    const reason = new Error('tick deadline');
    await received;
    controller.abort(reason);
    await assert.rejects(pending, (e: unknown) => e === reason);
  });

  it('rejects bad options, naming them', () => {
    const bad: [() => unknown, string][] = [
      [() => prometheusCollector({ url: 'ftp://x/metrics' }), 'url'],
      [() => prometheusCollector({ url: 'not a url' }), 'url'],
      [() => prometheusCollector({ url: server.url, metrics: { a: 'x{' } }), 'metrics.a'],
      [
        () =>
          prometheusCollector({
            url: server.url,
            metrics: { a: { series: 'x', aggregate: 'median' as never } },
          }),
        'metrics.a.aggregate',
      ],
      [
        () => prometheusCollector({ url: server.url, metrics: { a: { series: 'x', rate: 'yes' as never } } }),
        'metrics.a.rate',
      ],
      [() => prometheusCollector({ url: server.url, metrics: {} }), 'metrics'],
      [() => prometheusCollector({ url: server.url, absent: Number.NaN }), 'absent'],
      [() => prometheusCollector({ url: server.url, headers: { a: 1 as never } }), 'headers.a'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
  });
});

describe('promqlCollector', () => {
  const now = 1_700_000_000.123;
  const answers: Record<string, { status: number; body: string; type?: string }> = {
    'sum(rate(http_requests_total{job="api"}[1m]))': json(200, {
      status: 'success',
      data: {
        resultType: 'vector',
        result: [
          { metric: { job: 'api', instance: '10.0.0.1:9464' }, value: [now, '120.5'] },
          { metric: { job: 'api', instance: '10.0.0.2:9464' }, value: [now, '79.5'] },
        ],
      },
    }),
    'scalar(sum(kube_deployment_status_replicas{deployment="api"}))': json(200, {
      status: 'success',
      data: { resultType: 'scalar', result: [now, '4'] },
    }),
    'sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))': json(200, {
      status: 'success',
      data: { resultType: 'vector', result: [{ metric: {}, value: [now, 'NaN'] }] },
    }),
    absent_metric: json(200, { status: 'success', data: { resultType: 'vector', result: [] } }),
    'rate(x[': json(400, {
      status: 'error',
      errorType: 'bad_data',
      error: 'invalid parameter "query": 1:8: parse error: unexpected end of input inside brackets',
    }),
    'http_requests_total[5m]': json(200, {
      status: 'success',
      data: { resultType: 'matrix', result: [{ metric: {}, values: [[now, '1']] }] },
    }),
    slow_query: json(503, {
      status: 'error',
      errorType: 'timeout',
      error: 'query timed out in expression evaluation',
    }),
    behind_proxy: { status: 502, body: '<html><body>502 Bad Gateway</body></html>', type: 'text/html' },
  };
  function json(status: number, body: unknown) {
    return { status, body: JSON.stringify(body), type: 'application/json' };
  }

  let server: Awaited<ReturnType<typeof standIn>>;
  before(async () => {
    server = await standIn((req, res) => {
      const path = new URL(req.url, 'http://x').pathname;
      if (req.method !== 'POST' || !path.endsWith('/api/v1/query')) {
        res.writeHead(404).end('404 page not found');
        return;
      }
      const query = new URLSearchParams(req.body).get('query') ?? '';
      if (query === 'hang') return;
      const answer =
        answers[query] ?? json(200, { status: 'success', data: { resultType: 'vector', result: [] } });
      res.writeHead(answer.status, { 'content-type': answer.type ?? 'text/plain' }).end(answer.body);
    });
  });
  after(() => server.close());

  it('runs every query and sums the vector, or reads the scalar', async () => {
    const collector = promqlCollector({
      url: server.url,
      queries: {
        rps: 'sum(rate(http_requests_total{job="api"}[1m]))',
        replicas: 'scalar(sum(kube_deployment_status_replicas{deployment="api"}))',
      },
    });
    assert.equal(collector.name, 'promql');
    assert.deepEqual(await collector.collect(never), { rps: 200, replicas: 4 });
    const sent = server.seen.at(-1)!;
    assert.equal(sent.method, 'POST');
    assert.equal(new URL(sent.url, 'http://x').pathname, '/api/v1/query');
    assert.match(String(sent.headers['content-type']), /application\/x-www-form-urlencoded/);
  });

  it('reads empty and NaN-only answers as absent (0 by default, or a given number)', async () => {
    const collector = promqlCollector({
      url: server.url,
      absent: 0,
      queries: {
        errorRatio: 'sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))',
        dlq: 'absent_metric',
      },
    });
    assert.deepEqual(await collector.collect(never), { errorRatio: 0, dlq: 0 });
    const strict = promqlCollector({ url: server.url, absent: 'error', queries: { dlq: 'absent_metric' } });
    await assert.rejects(
      strict.collect(never),
      (e: unknown) =>
        isCollectorError(e) && /query "absent_metric" \(reading "dlq"\) returned no samples/.test(e.message),
    );
  });

  it("fails naming the query and quoting Prometheus's error", async () => {
    const collector = promqlCollector({ url: server.url, queries: { rps: 'rate(x[' } });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.equal(
        e.message,
        'sluice: collector "promql": query "rate(x[" (reading "rps") failed: bad_data: invalid parameter "query": 1:8: parse error: unexpected end of input inside brackets',
      );
      return true;
    });
  });

  it('lists every failed query in one error', async () => {
    const collector = promqlCollector({
      url: server.url,
      queries: { a: 'slow_query', b: 'behind_proxy', ok: 'absent_metric' },
    });
    await assert.rejects(collector.collect(never), (e: unknown) => {
      assert.ok(isCollectorError(e));
      assert.match(
        e.message,
        /2 queries failed: query "slow_query" \(reading "a"\) failed: timeout: query timed out/,
      );
      assert.match(
        e.message,
        /query "behind_proxy" \(reading "b"\): 127\.0\.0\.1:\d+ answered 502 Bad Gateway: <html>/,
      );
      return true;
    });
  });

  it('refuses a range vector', async () => {
    const collector = promqlCollector({ url: server.url, queries: { r: 'http_requests_total[5m]' } });
    await assert.rejects(
      collector.collect(never),
      (e: unknown) => isCollectorError(e) && /range vector/.test(e.message),
    );
  });

  it('keeps a path prefix and sends the configured headers', async () => {
    const collector = promqlCollector({
      url: `${server.url}/prometheus/`,
      headers: { 'x-scope-orgid': 'team-a' },
      queries: { rps: 'sum(rate(http_requests_total{job="api"}[1m]))' },
    });
    assert.deepEqual(await collector.collect(never), { rps: 200 });
    const sent = server.seen.at(-1)!;
    assert.equal(new URL(sent.url, 'http://x').pathname, '/prometheus/api/v1/query');
    assert.equal(sent.headers['x-scope-orgid'], 'team-a');
  });

  it('rejects with the abort reason when the collect is aborted', async () => {
    const collector = promqlCollector({ url: server.url, queries: { h: 'hang' } });
    const controller = new AbortController();
    const received = server.nextRequest();
    const pending = collector.collect(controller.signal);
    const reason = new Error('tick deadline');
    await received;
    controller.abort(reason);
    await assert.rejects(pending, (e: unknown) => e === reason);
  });

  it('rejects bad options, naming them', () => {
    const bad: [() => unknown, string][] = [
      [() => promqlCollector({ url: 'nope', queries: { a: 'up' } }), 'url'],
      [() => promqlCollector({ url: server.url, queries: {} }), 'queries'],
      [() => promqlCollector({ url: server.url, queries: { a: ' ' } }), 'queries.a'],
      [() => promqlCollector({ url: server.url, queries: { a: 'up' }, absent: 'zero' as never }), 'absent'],
    ];
    for (const [make, option] of bad) {
      assert.throws(make, (e: unknown) => isConfigError(e) && e.option === option, option);
    }
  });
});
