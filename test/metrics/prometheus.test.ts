import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { createBatcher } from '../../src/batch/batcher.ts';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import { createServerProtection } from '../../src/http/server/core.ts';
import { protect } from '../../src/http/server/node.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { createMetrics, type PrometheusMetrics } from '../../src/metrics/index.ts';
import { constantBackoff } from '../../src/policies/backoff/index.ts';
import { createBreaker } from '../../src/policies/breaker.ts';
import { createRetry } from '../../src/policies/retry.ts';
import { createThrottle } from '../../src/policies/throttle.ts';
import { createRegulator } from '../../src/regulator/regulator.ts';
import { createAutoscaler } from '../../src/scale/controller.ts';
import { createPool } from '../../src/scale/pool/pool.ts';
import type { Actuator, Capacity, PolicyInput } from '../../src/scale/types.ts';
import { PressureMeter } from '../../src/signals/pressure.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';
import { help, type Scrape, samples, scrape, serve, value } from './helpers.ts';

/** A fresh registry with sluice's metrics, served by a real node:http server. */
function setup(options: { prefix?: string } = {}) {
  const registry = new Registry();
  const metrics = createMetrics({ registry, ...options });
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  return {
    registry,
    metrics,
    async scrape(): Promise<Scrape> {
      server ??= await serve(metrics.handler);
      return scrape(`${server.url}/metrics`);
    },
    async close(): Promise<void> {
      metrics.close();
      await server?.close();
    },
  };
}

function typeOf(s: Scrape, family: string): string | undefined {
  return s.types.get(family);
}

describe('metrics: the Prometheus endpoint', () => {
  it('serves the exposition over node:http with the text-format content type, uncached', async () => {
    const t = setup();
    t.metrics.trackLimiter(createLimiter({ name: 'api', clock: new VirtualClock(), limit: 7 }));
    try {
      const s = await t.scrape();
      assert.match(s.contentType ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(value(s, 'sluice_limiter_limit', { name: 'api' }), 7);
    } finally {
      await t.close();
    }
  });

  it('answers HEAD without a body and other methods with 405', async () => {
    const registry = new Registry();
    const metrics = createMetrics({ registry });
    const server = await serve(metrics.handler);
    try {
      const head = await fetch(server.url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
      const post = await fetch(server.url, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      await post.text();
    } finally {
      metrics.close();
      await server.close();
    }
  });

  it('answers 500 when collection fails', async () => {
    const metrics = createMetrics({ registry: new Registry() });
    const broken = {
      name: 'broken',
      snapshot: () => {
        throw new Error('no snapshot');
      },
      on: () => () => {},
    };
    metrics.trackPool(broken as never);
    const server = await serve(metrics.handler);
    try {
      const res = await fetch(server.url);
      assert.equal(res.status, 500);
      assert.match(await res.text(), /no snapshot/);
    } finally {
      metrics.close();
      await server.close();
    }
  });

  it('mounts in Express and, through metrics(), in Fastify', async () => {
    const registry = new Registry();
    const metrics = createMetrics({ registry });
    metrics.trackLimiter(createLimiter({ name: 'api', clock: new VirtualClock(), limit: 3 }));
    const app = express();
    app.get('/metrics', metrics.handler);
    const ex = await serve(app);
    const fastify = Fastify();
    fastify.get('/metrics', async (_req, reply) =>
      reply.type(metrics.contentType).send(await metrics.metrics()),
    );
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const address = fastify.server.address() as { port: number };
    try {
      const fromExpress = await scrape(`${ex.url}/metrics`);
      const fromFastify = await scrape(`http://127.0.0.1:${address.port}/metrics`);
      assert.equal(value(fromExpress, 'sluice_limiter_limit', { name: 'api' }), 3);
      assert.equal(value(fromFastify, 'sluice_limiter_limit', { name: 'api' }), 3);
      assert.match(fromFastify.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    } finally {
      metrics.close();
      await ex.close();
      await fastify.close();
    }
  });
});

describe('metrics: the limiter', () => {
  const clock = new VirtualClock();
  const manual = new ManualLimit(2);
  const limiter = createLimiter({
    name: 'api',
    clock,
    limit: manual,
    queue: { size: 10, timeout: 1000, target: false },
  });
  const t = setup();
  t.metrics.trackLimiter(limiter);
  let s: Scrape;

  before(async () => {
    const first = limiter.tryAcquire()!;
    limiter.tryAcquire();
    assert.equal(limiter.tryAcquire({ priority: 'low' }), undefined); // refused: reason limit, priority low
    const admitted = limiter.acquire({ priority: 'high' });
    const expires = limiter.acquire();
    expires.catch(() => {});
    clock.advance(50);
    first.success(); // the first waiter goes in after 50 ms
    await admitted;
    clock.advance(1000); // the other times out at 1000 ms
    await assert.rejects(expires, (e) => isRejectedError(e) && e.reason === 'queue-timeout');
    limiter.acquire(); // waits; stays queued
    clock.advance(300);
    manual.set(5); // a limit change (rule "manual") admits the waiter
    await flushMicrotasks();
    limiter.acquire().catch(() => {});
    limiter.acquire().catch(() => {});
    limiter.acquire().catch(() => {});
    limiter.acquire().catch(() => {});
    clock.advance(200); // limit 5 with 3 in flight: two admitted at once, two wait
    s = await t.scrape();
  });
  after(() => t.close());

  it('exports the limit, in flight and queue depth as gauges named with the limiter', () => {
    assert.equal(typeOf(s, 'sluice_limiter_limit'), 'gauge');
    assert.equal(value(s, 'sluice_limiter_limit', { name: 'api' }), 5);
    assert.equal(typeOf(s, 'sluice_limiter_inflight'), 'gauge');
    assert.equal(value(s, 'sluice_limiter_inflight', { name: 'api' }), limiter.inflight);
    assert.equal(typeOf(s, 'sluice_limiter_queue_depth'), 'gauge');
    assert.equal(value(s, 'sluice_limiter_queue_depth', { name: 'api' }), limiter.queued);
    assert.ok(limiter.queued > 0);
  });

  it('exports the age of the oldest waiter in seconds', () => {
    assert.equal(typeOf(s, 'sluice_limiter_queue_oldest_age_seconds'), 'gauge');
    assert.equal(value(s, 'sluice_limiter_queue_oldest_age_seconds', { name: 'api' }), 0.2);
    assert.equal(value(s, 'sluice_limiter_queue_standing', { name: 'api' }), 0);
  });

  it('exports the waiting time of admitted and rejected waiters as a histogram in seconds', () => {
    const name = 'sluice_limiter_queue_wait_seconds';
    assert.equal(typeOf(s, name), 'histogram');
    // Two waited (50 and 300 ms); those admitted without waiting are not observed.
    assert.equal(value(s, `${name}_count`, { name: 'api', outcome: 'admitted' }), 2);
    assert.equal(value(s, `${name}_sum`, { name: 'api', outcome: 'admitted' }), 0.35);
    assert.equal(value(s, `${name}_bucket`, { name: 'api', outcome: 'admitted', le: '0.05' }), 1);
    assert.equal(value(s, `${name}_bucket`, { name: 'api', outcome: 'admitted', le: '0.2' }), 1);
    assert.equal(value(s, `${name}_bucket`, { name: 'api', outcome: 'admitted', le: '0.5' }), 2);
    assert.equal(value(s, `${name}_count`, { name: 'api', outcome: 'rejected' }), 1);
    assert.equal(value(s, `${name}_sum`, { name: 'api', outcome: 'rejected' }), 1);
    assert.equal(value(s, `${name}_bucket`, { name: 'api', outcome: 'rejected', le: '0.5' }), 0);
    assert.equal(value(s, `${name}_bucket`, { name: 'api', outcome: 'rejected', le: '1' }), 1);
  });

  it('counts rejections by reason and priority, with the priority named', () => {
    assert.equal(typeOf(s, 'sluice_limiter_rejections_total'), 'counter');
    assert.equal(
      value(s, 'sluice_limiter_rejections_total', { name: 'api', reason: 'limit', priority: 'low' }),
      1,
    );
    assert.equal(
      value(s, 'sluice_limiter_rejections_total', {
        name: 'api',
        reason: 'queue-timeout',
        priority: 'normal',
      }),
      1,
    );
    assert.equal(samples(s, 'sluice_limiter_rejections_total').length, 2);
  });

  it('counts limit changes by rule', () => {
    assert.equal(value(s, 'sluice_limiter_limit_changes_total', { name: 'api', rule: 'manual' }), 1);
  });

  it('writes HELP for every family', () => {
    for (const family of s.types.keys()) assert.ok(help(s, family), `HELP of ${family}`);
    assert.match(help(s, 'sluice_limiter_limit')!, /limit/i);
  });

  it('reads the gauges at scrape time, with no event in between', async () => {
    clock.advance(100);
    const later = await t.scrape();
    assert.equal(value(later, 'sluice_limiter_queue_oldest_age_seconds', { name: 'api' }), 0.3);
  });
});

describe('metrics: the breaker', () => {
  it('exports its state as one series per state, its window ratios, transitions and rejections', async () => {
    const clock = new VirtualClock();
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 2, openDuration: 1000 });
    const t = setup();
    t.metrics.trackBreaker(breaker);
    try {
      await breaker.execute(() => 'ok');
      const fail = () => Promise.reject(new Error('down'));
      await assert.rejects(breaker.execute(fail));
      const closed = await t.scrape();
      assert.equal(value(closed, 'sluice_breaker_failure_ratio', { name: 'db' }), 0.5);
      assert.equal(value(closed, 'sluice_breaker_window_calls', { name: 'db' }), 2);
      await assert.rejects(breaker.execute(fail)); // second failure in a row: opens
      await assert.rejects(breaker.execute(() => 'refused'));
      const s = await t.scrape();
      assert.equal(typeOf(s, 'sluice_breaker_state'), 'gauge');
      assert.equal(value(s, 'sluice_breaker_state', { name: 'db', state: 'open' }), 1);
      for (const state of ['closed', 'half-open', 'isolated'])
        assert.equal(value(s, 'sluice_breaker_state', { name: 'db', state }), 0);
      assert.equal(typeOf(s, 'sluice_breaker_transitions_total'), 'counter');
      assert.equal(
        value(s, 'sluice_breaker_transitions_total', { name: 'db', from: 'closed', to: 'open' }),
        1,
      );
      assert.equal(
        value(s, 'sluice_breaker_rejections_total', { name: 'db', state: 'open', enforced: 'true' }),
        1,
      );
      clock.advance(1000);
      const half = await t.scrape(); // reading the state observes the move to half-open
      assert.equal(value(half, 'sluice_breaker_state', { name: 'db', state: 'half-open' }), 1);
      assert.equal(
        value(half, 'sluice_breaker_transitions_total', { name: 'db', from: 'open', to: 'half-open' }),
        1,
      );
    } finally {
      await t.close();
    }
  });
});

describe('metrics: the regulator', () => {
  it('exports its rate per second, tokens, rejections by reason and rate changes by rule', async () => {
    const clock = new VirtualClock();
    const regulator = createRegulator({ name: 'partner', clock, rate: 10, burst: 2, queue: false });
    const t = setup();
    t.metrics.trackRegulator(regulator);
    try {
      assert.ok(regulator.tryTake(2));
      const error = await regulator.take().catch((e: unknown) => e);
      assert.ok(isRejectedError(error));
      regulator.setRate(20);
      clock.advance(50); // one token back at 20 per second
      const s = await t.scrape();
      assert.equal(typeOf(s, 'sluice_regulator_rate_per_second'), 'gauge');
      assert.equal(value(s, 'sluice_regulator_rate_per_second', { name: 'partner' }), 20);
      assert.ok(Math.abs(value(s, 'sluice_regulator_tokens', { name: 'partner' }) - 1) < 1e-9);
      assert.equal(value(s, 'sluice_regulator_queue_depth', { name: 'partner' }), 0);
      assert.equal(
        value(s, 'sluice_regulator_rejections_total', { name: 'partner', reason: error.reason }),
        1,
      );
      assert.equal(value(s, 'sluice_regulator_rate_changes_total', { name: 'partner', rule: 'manual' }), 1);
    } finally {
      await t.close();
    }
  });
});

describe('metrics: the pressure meter', () => {
  it('exports the smoothed score, the level as one series per level and each signal contribution', async () => {
    const meter = new PressureMeter({ name: 'api' });
    const t = setup();
    t.metrics.trackPressure(meter);
    try {
      const before = await t.scrape();
      assert.equal(value(before, 'sluice_pressure_score', { name: 'api' }), 0);
      assert.equal(samples(before, 'sluice_pressure_contribution').length, 0);
      const reading = meter.update(
        { queueDepth: 90, queueCapacity: 100, latency: 100, latencyBaseline: 50 },
        0,
      );
      const s = await t.scrape();
      assert.equal(value(s, 'sluice_pressure_score', { name: 'api' }), reading.score);
      assert.equal(reading.level, 'critical');
      assert.equal(value(s, 'sluice_pressure_level', { name: 'api', level: 'critical' }), 1);
      assert.equal(value(s, 'sluice_pressure_level', { name: 'api', level: 'normal' }), 0);
      assert.equal(value(s, 'sluice_pressure_contribution', { name: 'api', component: 'latency' }), 0.5);
      assert.equal(
        value(s, 'sluice_pressure_contribution', { name: 'api', component: 'queue' }),
        reading.raw.components.queue,
      );
      assert.equal(value(s, 'sluice_pressure_level_changes_total', { name: 'api', level: 'critical' }), 1);
    } finally {
      await t.close();
    }
  });
});

describe('metrics: the worker pool', () => {
  it('exports its size, ready workers, workers by state, queue and rejections', async () => {
    const clock = new VirtualClock();
    const pool = createPool({ name: 'workers', clock, size: 1, max: 4, queue: { size: 1 } });
    const t = setup();
    t.metrics.trackPool(pool);
    try {
      const gate = Promise.withResolvers<void>();
      const running = pool.submit(() => gate.promise);
      const queued = pool.submit(() => gate.promise);
      const refused = await pool.submit(() => gate.promise).catch((e: unknown) => e);
      assert.ok(isRejectedError(refused) && refused.reason === 'queue-full');
      clock.advance(250);
      const s = await t.scrape();
      assert.equal(value(s, 'sluice_pool_size', { name: 'workers' }), 1);
      assert.equal(value(s, 'sluice_pool_ready', { name: 'workers' }), 1);
      assert.equal(value(s, 'sluice_pool_workers', { name: 'workers', state: 'busy' }), 1);
      assert.equal(value(s, 'sluice_pool_workers', { name: 'workers', state: 'idle' }), 0);
      assert.equal(value(s, 'sluice_pool_queue_depth', { name: 'workers' }), 1);
      assert.equal(value(s, 'sluice_pool_queue_oldest_age_seconds', { name: 'workers' }), 0.25);
      assert.equal(value(s, 'sluice_pool_rejections_total', { name: 'workers', reason: 'queue-full' }), 1);
      gate.resolve();
      await Promise.all([running, queued]);
    } finally {
      await pool.close();
      await t.close();
    }
  });
});

/** An actuator whose ready replicas lag: they follow `desired` only when `catchUp()` is called. */
class Fleet implements Actuator {
  readonly name = 'fleet';
  desired = 2;
  ready = 2;
  capacity(): Capacity {
    return { desired: this.desired, ready: this.ready };
  }
  scale(replicas: number): void {
    this.desired = replicas;
  }
}

describe('metrics: the autoscaler', () => {
  it('exports replicas desired and actual, the signals, decisions by rule and direction, clamps and errors', async () => {
    const clock = new VirtualClock();
    const fleet = new Fleet();
    const readings = { load: 5 };
    let flaky = false;
    const autoscaler = createAutoscaler({
      name: 'workers',
      clock,
      actuator: fleet,
      min: 1,
      max: 8,
      collectors: [
        { name: 'queue', collect: () => ({ ...readings }) },
        {
          name: 'flaky',
          collect: () => {
            if (flaky) throw new Error('unreachable');
            return {};
          },
        },
      ],
      policies: [
        {
          name: 'want',
          propose(input: PolicyInput) {
            const s = input.signals.get('load');
            return s && { replicas: Math.round(s.value), rule: 'want:load', reason: `load ${s.value}` };
          },
        },
      ],
    });
    const t = setup();
    t.metrics.trackAutoscaler(autoscaler);
    try {
      const empty = await t.scrape();
      assert.equal(samples(empty, 'sluice_autoscaler_replicas_desired').length, 0);
      await autoscaler.tick(); // 2 → 5
      const s = await t.scrape();
      assert.equal(typeOf(s, 'sluice_autoscaler_replicas_desired'), 'gauge');
      assert.equal(value(s, 'sluice_autoscaler_replicas_desired', { name: 'workers' }), 5);
      assert.equal(value(s, 'sluice_autoscaler_replicas_actual', { name: 'workers' }), 2);
      assert.equal(value(s, 'sluice_autoscaler_signal', { name: 'workers', signal: 'load' }), 5);
      assert.equal(typeOf(s, 'sluice_autoscaler_decisions_total'), 'counter');
      assert.equal(
        value(s, 'sluice_autoscaler_decisions_total', {
          name: 'workers',
          rule: 'want:load',
          direction: 'up',
        }),
        1,
      );
      fleet.ready = 5;
      readings.load = 12;
      flaky = true;
      clock.advance(15_000);
      await autoscaler.tick(); // wants 12: clamped to max 8
      const later = await t.scrape();
      assert.equal(value(later, 'sluice_autoscaler_replicas_desired', { name: 'workers' }), 8);
      assert.equal(value(later, 'sluice_autoscaler_replicas_actual', { name: 'workers' }), 5);
      assert.equal(
        value(later, 'sluice_autoscaler_decisions_total', {
          name: 'workers',
          rule: 'want:load',
          direction: 'up',
        }),
        2,
      );
      assert.equal(value(later, 'sluice_autoscaler_clamps_total', { name: 'workers', guard: 'max' }), 1);
      assert.equal(value(later, 'sluice_autoscaler_errors_total', { name: 'workers', stage: 'collect' }), 1);
    } finally {
      await t.close();
    }
  });
});

describe('metrics: the batcher', () => {
  it('exports its target size, buffered items and the size and duration of each flush', async () => {
    const clock = new VirtualClock();
    const batcher = createBatcher<number>({
      name: 'events',
      clock,
      maxSize: 100,
      initialSize: 4,
      flush: async () => {},
    });
    const t = setup();
    t.metrics.trackBatcher(batcher);
    try {
      const flushes: number[] = [];
      batcher.on('flush', (e) => flushes.push(e.items));
      await Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)));
      const s = await t.scrape();
      assert.equal(value(s, 'sluice_batcher_size', { name: 'events' }), batcher.size);
      assert.equal(value(s, 'sluice_batcher_buffered', { name: 'events' }), 0);
      assert.equal(typeOf(s, 'sluice_batcher_flush_items'), 'histogram');
      assert.equal(
        value(s, 'sluice_batcher_flush_items_count', { name: 'events', outcome: 'success' }),
        flushes.length,
      );
      assert.equal(value(s, 'sluice_batcher_flush_items_sum', { name: 'events', outcome: 'success' }), 4);
      assert.equal(
        value(s, 'sluice_batcher_flush_duration_seconds_count', { name: 'events', outcome: 'success' }),
        flushes.length,
      );
    } finally {
      await batcher.close();
      await t.close();
    }
  });
});

describe('metrics: server protection', () => {
  it('exports the protection limiter and requests by route and outcome', async () => {
    const protection = createServerProtection({ name: 'web', limit: 1, queue: false, pressure: false });
    const t = setup();
    t.metrics.trackServer(protection);
    let finish: (() => void) | undefined;
    const started = Promise.withResolvers<void>();
    const app = await serve(
      protect((req, res) => {
        if (req.url === '/slow') {
          finish = () => res.end('slow');
          started.resolve();
        } else res.end('fast');
      }, protection),
    );
    try {
      assert.equal(await fetch(`${app.url}/fast`).then((r) => r.text()), 'fast');
      const slow = fetch(`${app.url}/slow`).then((r) => r.text());
      await started.promise;
      const shed = await fetch(`${app.url}/fast`);
      assert.equal(shed.status, 503);
      await shed.text();
      const during = await t.scrape();
      assert.equal(value(during, 'sluice_limiter_limit', { name: 'web' }), 1);
      assert.equal(value(during, 'sluice_limiter_inflight', { name: 'web' }), 1);
      assert.equal(value(during, 'sluice_server_route_inflight', { name: 'web', route: 'GET /slow' }), 1);
      finish!();
      assert.equal(await slow, 'slow');
      const s = await t.scrape();
      assert.equal(typeOf(s, 'sluice_server_requests_total'), 'counter');
      const requests = (route: string, outcome: string) =>
        value(s, 'sluice_server_requests_total', { name: 'web', route, outcome });
      assert.equal(requests('GET /fast', 'success'), 1);
      assert.equal(requests('GET /fast', 'shed'), 1);
      assert.equal(requests('GET /slow', 'success'), 1);
      assert.equal(value(s, 'sluice_server_pressure_level', { name: 'web', level: 'normal' }), 1);
      assert.equal(value(s, 'sluice_server_pressure_cap', { name: 'web' }), Number.POSITIVE_INFINITY);
      // Pressure is off: the load readings are NaN, and left out.
      assert.equal(samples(s, 'sluice_server_event_loop_delay_seconds').length, 0);
    } finally {
      protection.close();
      await app.close();
      await t.close();
    }
  });
});

describe('metrics: tracking', () => {
  it('tracks any component with track(), telling its kind by its methods', async () => {
    const clock = new VirtualClock();
    const t = setup();
    try {
      t.metrics.track(createLimiter({ name: 'l', clock, limit: 1 }));
      t.metrics.track(createBreaker({ name: 'b', clock }));
      t.metrics.track(createRegulator({ name: 'r', clock }));
      t.metrics.track(new PressureMeter({ name: 'p' }));
      const throttle = createThrottle({ name: 't', clock, k: 1, random: () => 0 });
      t.metrics.track(throttle);
      const retry = createRetry({
        name: 'x',
        clock,
        attempts: 2,
        budget: false,
        backoff: constantBackoff({ delay: 1 }),
      });
      t.metrics.track(retry);
      for (let i = 0; i < 4; i++) throttle.tryPass()?.rejected();
      await assert.rejects(throttle.execute(() => 'not sent', { priority: 'low' }));
      const failing = retry
        .execute(() => {
          throw Object.assign(new Error('busy'), { status: 503 });
        })
        .then(
          () => assert.fail('expected the retries to give up'),
          (e: unknown) => e,
        );
      await clock.advanceAsync(10); // the retry's backoff runs on the clock
      assert.match(String(await failing), /busy/);
      const s = await t.scrape();
      assert.equal(value(s, 'sluice_limiter_limit', { name: 'l' }), 1);
      assert.equal(value(s, 'sluice_breaker_state', { name: 'b', state: 'closed' }), 1);
      assert.equal(value(s, 'sluice_regulator_rate_per_second', { name: 'r' }), 10);
      assert.equal(value(s, 'sluice_pressure_score', { name: 'p' }), 0);
      assert.ok(value(s, 'sluice_throttle_rejection_probability', { name: 't' }) > 0);
      assert.equal(value(s, 'sluice_throttle_rejections_total', { name: 't', priority: 'low' }), 1);
      assert.equal(value(s, 'sluice_retry_retries_total', { name: 'x' }), 1);
      assert.equal(value(s, 'sluice_retry_give_ups_total', { name: 'x', why: 'attempts' }), 1);
      assert.throws(() => t.metrics.track({} as never), isConfigError);
    } finally {
      await t.close();
    }
  });

  it('names a tracked instance by option, and adds the constant labels given to every series', async () => {
    const clock = new VirtualClock();
    const t = setup();
    try {
      t.metrics.trackLimiter(createLimiter({ clock, limit: 4 }), {
        name: 'orders',
        labels: { service: 'shop' },
      });
      const s = await t.scrape();
      assert.equal(value(s, 'sluice_limiter_limit', { name: 'orders', service: 'shop' }), 4);
      assert.throws(
        () => t.metrics.trackLimiter(createLimiter({ clock }), { name: 'other', labels: { zone: 'a' } }),
        (e) => isConfigError(e) && /service/.test(e.message),
      );
      assert.throws(
        () => t.metrics.trackLimiter(createLimiter({ clock }), { labels: { reason: 'x', service: 's' } }),
        isConfigError,
      );
      assert.throws(
        () => t.metrics.trackLimiter(createLimiter({ clock }), { labels: { 'bad-name': 'x' } }),
        isConfigError,
      );
    } finally {
      await t.close();
    }
  });

  it('refuses a second instance under the same name, and takes it once the first is stopped', async () => {
    const clock = new VirtualClock();
    const t = setup();
    try {
      const first = t.metrics.trackLimiter(createLimiter({ name: 'api', clock, limit: 2 }));
      assert.throws(
        () => t.metrics.trackLimiter(createLimiter({ name: 'api', clock, limit: 3 })),
        (e) => isConfigError(e) && e.option === 'name',
      );
      first.stop();
      const gone = await t.scrape();
      assert.equal(samples(gone, 'sluice_limiter_limit').length, 0);
      t.metrics.trackLimiter(createLimiter({ name: 'api', clock, limit: 3 }));
      assert.equal(value(await t.scrape(), 'sluice_limiter_limit', { name: 'api' }), 3);
    } finally {
      await t.close();
    }
  });

  it('stops listening to a stopped instance: its counters and histograms disappear', async () => {
    const clock = new VirtualClock();
    const limiter = createLimiter({
      name: 'api',
      clock,
      limit: 1,
      queue: { size: 1, timeout: 10, target: false },
    });
    const t = setup();
    try {
      using tracking = t.metrics.trackLimiter(limiter);
      limiter.tryAcquire();
      limiter.tryAcquire();
      limiter.acquire().catch(() => {});
      clock.advance(10);
      await flushMicrotasks();
      const s = await t.scrape();
      assert.equal(
        value(s, 'sluice_limiter_queue_wait_seconds_count', { name: 'api', outcome: 'rejected' }),
        1,
      );
      tracking.stop();
      limiter.tryAcquire();
      const after = await t.scrape();
      assert.equal(samples(after, 'sluice_limiter_rejections_total').length, 0);
      assert.equal(samples(after, 'sluice_limiter_queue_wait_seconds_count').length, 0);
    } finally {
      await t.close();
    }
  });

  it('uses the prefix given, and close() frees the registry for another createMetrics', async () => {
    const registry = new Registry();
    const clock = new VirtualClock();
    const metrics: PrometheusMetrics = createMetrics({ registry, prefix: 'app_' });
    metrics.trackLimiter(createLimiter({ name: 'api', clock, limit: 2 }));
    assert.match(await metrics.metrics(), /^app_limiter_limit\{name="api"\} 2$/m);
    const clash = createMetrics({ registry, prefix: 'app_' });
    assert.throws(() => clash.trackLimiter(createLimiter({ name: 'x', clock })), isConfigError);
    metrics.close();
    assert.equal(await registry.metrics(), '\n');
    clash.trackLimiter(createLimiter({ name: 'x', clock, limit: 9 }));
    assert.match(await registry.metrics(), /^app_limiter_limit\{name="x"\} 9$/m);
    clash.close();
  });

  it('rejects invalid options with a ConfigError naming them', () => {
    assert.throws(
      () => createMetrics({ prefix: 'bad-prefix' }),
      (e) => isConfigError(e) && e.option === 'prefix',
    );
    assert.throws(
      () => createMetrics({ registry: {} as never }),
      (e) => isConfigError(e) && e.option === 'registry',
    );
    const metrics = createMetrics({ registry: new Registry() });
    assert.throws(
      () =>
        metrics.trackLimiter(createLimiter({ clock: new VirtualClock() }), { priorities: 'high' as never }),
      (e) => isConfigError(e) && e.option === 'priorities',
    );
    assert.throws(
      () => metrics.trackLimiter(createLimiter({ clock: new VirtualClock() }), { name: '' }),
      (e) => isConfigError(e) && e.option === 'name',
    );
    metrics.close();
  });
});
